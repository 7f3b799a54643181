"""Input checks shared by the estimator, the DoWhy mechanisms and the experiments.

Every error names the node, column or argument at fault and says what to do.
"""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted


def check_fitted_generator(gen, caller: str = "") -> None:
    """``gen`` is a fitted ``CCGMGenerator`` (recognised by its interface, so that this
    module needs no torch): a ``TypeError`` naming what came instead (the usual mistake:
    the data first), scikit-learn's ``NotFittedError`` when it is not fitted."""
    if not (hasattr(gen, "path_specific") and hasattr(gen, "__sklearn_is_fitted__")):
        hint = (" (the data came first: the generator is the first argument)"
                if isinstance(gen, pd.DataFrame) else "")
        where = f"{caller}: " if caller else ""
        raise TypeError(f"{where}the first argument must be a fitted CCGMGenerator, got "
                        f"{type(gen).__name__}{hint}")
    check_is_fitted(gen, msg=f"This {type(gen).__name__} instance is not fitted yet; call "
                             "fit(X) first")


def check_graph(graph) -> nx.DiGraph:
    """A networkx DiGraph without cycles (the cycle is named otherwise)."""
    if not isinstance(graph, nx.DiGraph):
        raise TypeError(f"graph must be a networkx.DiGraph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise ValueError("graph has no nodes")
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return graph
    path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
    raise ValueError(f"graph is not a DAG: it contains the cycle {path}")


def check_frame(X, graph: nx.DiGraph, *, extra_columns: str = "raise",
                min_rows: int = 2, missing: str = "raise") -> pd.DataFrame:
    """Graph/data agreement, finiteness and size; returns the frame restricted to graph nodes.

    ``missing="allow"`` lets missing cells (NaN, None, pd.NA) through."""
    if not isinstance(X, pd.DataFrame):
        if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
            raise TypeError("X is a sparse matrix: sparse input is not supported; pass a "
                            "dense pandas DataFrame whose columns are the graph's nodes")
        hint = (f"; wrap it as pd.DataFrame(X, columns={list(graph.nodes)!r})"
                if isinstance(X, np.ndarray) and X.ndim == 2
                and X.shape[1] == graph.number_of_nodes() else "")
        raise TypeError(f"X must be a pandas DataFrame whose columns are the graph's nodes, "
                        f"got {type(X).__name__}{hint}")
    if extra_columns not in ("raise", "drop"):
        raise ValueError(f"extra_columns must be 'raise' or 'drop', got {extra_columns!r}")
    nodes = list(graph.nodes)
    absent = [n for n in nodes if n not in X.columns]
    if absent:
        raise ValueError(f"graph nodes missing from the data: {absent}")
    extra = [c for c in X.columns if c not in graph.nodes]
    if extra and extra_columns == "raise":
        raise ValueError(f"data columns not in the graph: {extra}; add them to the graph "
                         "or pass extra_columns='drop'")
    if X.columns.duplicated().any():
        dup = list(X.columns[X.columns.duplicated()])
        raise ValueError(f"duplicate data columns: {dup}")
    if len(X) < min_rows:
        raise ValueError(f"need at least {min_rows} rows to fit, got {len(X)}")
    cols = [c for c in X.columns if c in graph.nodes]
    for c in cols:
        s = X[c]
        n_na = int(s.isna().sum())
        if n_na and missing != "allow":
            raise ValueError(f"column {c!r} has {n_na} missing (NaN) values; impute or drop "
                             "those rows first")
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            n_inf = int(np.isinf(s.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
            if n_inf:
                raise ValueError(f"column {c!r} has {n_inf} infinite values")
    return X[cols]


def check_node(name, nodes, what: str = "node"):
    if name not in nodes:
        raise KeyError(f"unknown {what} {name!r}; the model's nodes are {list(nodes)}")
    return name
