"""Stand-in for xmodule.modulestore: published course trees kept in the database."""
