"""Bronze: landed files validated against their source contracts into Delta, with a quarantine
for bad rows and an audit of every run."""
