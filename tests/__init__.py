"""Test suite and the stand-in LMS."""
