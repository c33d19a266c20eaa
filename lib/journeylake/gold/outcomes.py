"""The states every journey walk starts and ends in, one name each, shared by the journey graph
and attribution's Markov chains. A journey that ends without a conversion ends in `(dropoff)`,
the state the attribution literature calls "null"."""

from __future__ import annotations

START = "(start)"
CONVERSION = "(conversion)"
DROPOFF = "(dropoff)"
