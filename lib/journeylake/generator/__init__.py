"""A realistic, distributed and deterministic generator of journeylake's raw data.

`build_dataset` builds every source's raw lines and the planted truth as DataFrames (no I/O);
`write_dataset` writes them as a landing batch with a manifest; `generate` does both. The same
settings always give the same lines, on any cluster and partitioning.
"""

from __future__ import annotations

from journeylake.generator.dataset import SOURCES, GeneratedData, build_dataset
from journeylake.generator.writer import DEFAULT_BATCH, generate, write_dataset

__all__ = ["DEFAULT_BATCH", "SOURCES", "GeneratedData", "build_dataset", "generate",
           "write_dataset"]
