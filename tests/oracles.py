"""Plain-Python answers to graph questions, to hold the Spark code to (tests only)."""

from __future__ import annotations

from collections.abc import Iterable


def union_find_groups(nodes: Iterable[str], pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """node -> the smallest node of its connected group."""
    parent = {n: n for n in nodes}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: root(n) for n in parent}


def groups(labels: dict[str, str]) -> set[frozenset[str]]:
    """The partition a node -> label mapping describes."""
    found: dict[str, set[str]] = {}
    for member, label in labels.items():
        found.setdefault(label, set()).add(member)
    return {frozenset(group) for group in found.values()}
