"""Stand-in for the LMS's legacy Instructor Dashboard page (only what the Reports tab needs)."""
