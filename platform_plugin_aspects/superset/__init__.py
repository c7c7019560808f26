"""superset."""
