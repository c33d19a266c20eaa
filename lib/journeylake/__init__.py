"""journeylake: customer-journey analytics on Apache Spark, Delta Lake and GraphFrames."""

__version__ = "0.1.0"
