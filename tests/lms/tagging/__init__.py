"""Stand-in for openedx_tagging (openedx-core)."""
