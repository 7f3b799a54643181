"""Paths of a causal graph -> the edges of a nested counterfactual (path-specific effects).

A path-specific world lets a source node ``A`` act with its own value along the named
paths and with a reference value along every other path. It is computed as an *edge
intervention*: two ancestral passes share the units' noise, the reference world (``A`` at
its reference value) and the path-specific world; a child whose edge is in the returned
set reads its parent's value from the reference world. That set is every edge reachable
from ``A`` that lies on no named path.

This is exact when every path from ``A`` whose edges all lie on named paths is itself
named (or leads to no named endpoint). Otherwise two named paths share a node where they
cross with an unnamed one (Avin, Shpitser and Pearl's "recanting witness"): no edge
intervention separates them, and the effect is refused with the path that would leak.
"""
from __future__ import annotations

import networkx as nx

__all__ = ["reference_edges"]


def _check_path(graph: nx.DiGraph, path, sources) -> tuple:
    try:
        path = tuple(path)
    except TypeError:
        raise TypeError(f"paths: each path must be a list of nodes, got {path!r}") from None
    if len(path) < 2:
        raise ValueError(f"paths: {list(path)} has fewer than two nodes")
    if path[0] not in sources:
        raise ValueError(f"paths: {list(path)} does not start at a reference node "
                         f"{sorted(sources, key=str)}")
    for a, b in zip(path, path[1:]):
        if not graph.has_edge(a, b):
            raise ValueError(f"paths: {list(path)} uses {a!r} -> {b!r}, which is not an edge "
                             "of the model's graph")
    return path


def reference_edges(graph: nx.DiGraph, sources, paths) -> list:
    """The edges whose child reads the reference world, so that exactly the named
    ``paths`` (lists of nodes starting at a node of ``sources``) carry the sources' own
    values. Errors name the offending path."""
    sources = set(sources)
    for s in sources:
        if s not in graph:
            raise KeyError(f"unknown reference node {s!r}; the model's nodes are "
                           f"{list(graph.nodes)}")
    named = {_check_path(graph, p, sources) for p in (paths or ())}
    kept = {(a, b) for p in named for a, b in zip(p, p[1:])}
    reach = set()
    for s in sources:
        reach |= {s} | nx.descendants(graph, s)
    edges = sorted(((a, b) for a, b in graph.edges if a in reach and (a, b) not in kept),
                   key=lambda e: (str(e[0]), str(e[1])))
    # every path made only of kept edges from a source to a named endpoint must be named
    sub = nx.DiGraph(list(kept))
    for s in sources:
        if s not in sub:
            continue
        for end in {p[-1] for p in named}:
            if end in sub and end != s:
                for p in nx.all_simple_paths(sub, s, end):
                    if tuple(p) not in named:
                        raise ValueError(
                            f"paths: the path {p} is not named but consists of edges of named "
                            "paths, so it would carry the value too (a 'recanting witness': "
                            "the named paths cross at a node where this one leaves them); "
                            "name it as well, or name paths that do not share that node")
    return edges
