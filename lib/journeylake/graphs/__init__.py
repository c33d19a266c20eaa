"""Graph algorithms on DataFrames, in one place."""
