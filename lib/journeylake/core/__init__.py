"""Shared infrastructure: configuration, the SparkSession factory, Delta I/O, table specs and
small helpers. Imports no stage."""
