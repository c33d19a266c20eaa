"""Silver: pseudonymised identifiers stitched into persons, the unified timeline, sessions and
store visits."""
