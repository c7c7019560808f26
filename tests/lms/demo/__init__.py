"""The demo: a course with a few hundred learners in the stand-in LMS, sent through the plugin."""
