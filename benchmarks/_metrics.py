"""Metrics and output shared by the benchmarks (one definition each)."""
from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["mmd2", "corr_error", "write_json"]


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def mmd2(x: np.ndarray, y: np.ndarray, scale: np.ndarray, rng: np.random.Generator,
         n_max: int | None = None) -> float:
    """Unbiased MMD^2 with an RBF kernel ``exp(-|a-b|^2 / (2 h^2))``; columns divided by
    ``scale``; ``h`` = median pairwise distance of (up to 1000 rows of) the pooled sample
    (median heuristic). ``n_max``: use at most that many rows of each sample (drawn with
    ``rng``), bounding the O(n^2) kernel matrices."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if n_max is not None:
        x = x[rng.choice(len(x), min(n_max, len(x)), replace=False)]
        y = y[rng.choice(len(y), min(n_max, len(y)), replace=False)]
    x, y = x / scale, y / scale
    pooled = np.vstack([x, y])
    sub = pooled[rng.choice(len(pooled), size=min(len(pooled), 1000), replace=False)]
    d = np.sqrt(_sq_dists(sub, sub))
    h = float(np.median(d[np.triu_indices_from(d, k=1)]))
    gamma = 1.0 / (2.0 * h * h)
    kxx = np.exp(-gamma * _sq_dists(x, x))
    kyy = np.exp(-gamma * _sq_dists(y, y))
    kxy = np.exp(-gamma * _sq_dists(x, y))
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean())


def corr_error(a, b, columns) -> float:
    """The largest absolute difference between the correlation matrices of ``columns`` in
    the frames ``a`` and ``b`` (categorical codes as numbers)."""
    return float(np.abs(a[columns].astype(float).corr().to_numpy()
                        - b[columns].astype(float).corr().to_numpy()).max())


def write_json(path, obj) -> None:
    """``obj`` as indented JSON at ``path`` (its folder created; numpy scalars as floats);
    nothing when ``path`` is None (the scripts' ``--json`` is optional)."""
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=2, default=float)
