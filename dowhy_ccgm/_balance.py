"""Parent balance: the exact fit weighs each node's likelihood term toward rows whose
discrete parents take rare values.

A mechanism ``p(x_i | pa_i)`` fitted by maximum likelihood spends its capacity where the
rows are: a treated group of 1% or a condition in 1% of patients moves the objective by
1%, and the fitted mechanism there is whatever the majority's shape implies (DoWhy's
dry-eyes notebook: the rare condition's effect of the eye drops came out with the wrong
sign). Weighting node ``i``'s term of a row by a function of that row's parents changes
nothing where the model can represent the truth (every conditional ``p(x_i | pa_i)`` is
still the optimum, whatever the weights, because each weight is constant given the
parents), and moves the fit toward the rare parent values where it cannot fit all of
them at once.

The weight of node ``i`` on a row is ``(share of the row's cell) ** -power``, the cell
being the row's values of ``i``'s binary and categorical parents, a cell's count floored
at :data:`MIN_CELL_ROWS` (a handful of rows does not get an unbounded weight), normalised
to a mean of 1 over the rows. ``power=0`` is the plain likelihood; 1 gives every cell the
same total weight; the default 0.5 is their geometric middle (chosen by measurement: see
``benchmarks/bench_balance.py``). Nodes without a discrete parent keep weight 1, so a
graph of continuous columns fits exactly as before.
"""
from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_POWER", "MIN_CELL_ROWS", "cell_weights", "parent_balance"]

#: the default ``parent_balance`` power
DEFAULT_POWER = 0.5
#: a cell's count is floored here before its weight is taken
MIN_CELL_ROWS = 20


def cell_weights(cells: np.ndarray, power: float, min_rows: int = MIN_CELL_ROWS) -> np.ndarray:
    """Rows' weights (float64, mean 1) from their cell labels: ``(max(count, min_rows) /
    n) ** -power`` of the row's cell. ``cells`` (n, k) integer labels (k >= 1)."""
    cells = np.asarray(cells)
    n = cells.shape[0]
    if n == 0:
        return np.ones(0)
    _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    share = np.maximum(counts, min_rows) / n
    w = share[np.asarray(inverse).ravel()] ** (-float(power))
    return w / w.mean()


def parent_balance(mask: np.ndarray, disc: list, codes: np.ndarray, power: float,
                   min_rows: int = MIN_CELL_ROWS) -> np.ndarray | None:
    """Every node's weight on every row, (n_rows, n_nodes) float32, or None when no node
    has a discrete parent or ``power`` is 0 (the plain likelihood).

    ``mask[j, i]`` allows the edge ``j -> i``; ``disc`` the discrete nodes in the order of
    ``codes``' columns (n_rows, len(disc)), their integer codes (missing cells, -1, are a
    value of their own)."""
    mask = np.asarray(mask, dtype=bool)
    n_nodes = mask.shape[0]
    if power == 0 or not len(disc):
        return None
    codes = np.asarray(codes)
    out = None
    for i in range(n_nodes):
        parents = [k for k, j in enumerate(disc) if mask[j, i] and j != i]
        if not parents:
            continue
        if out is None:
            out = np.ones((codes.shape[0], n_nodes), dtype=np.float32)
        out[:, i] = cell_weights(codes[:, parents], power, min_rows)
    return out
