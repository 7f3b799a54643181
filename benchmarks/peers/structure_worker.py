"""One structure-learning peer on one data set, run by ``bench_structure.py`` with the
structure peers' interpreter (see ``structure-requirements.txt``).

Usage: ``python structure_worker.py METHOD DATA.npy`` prints one JSON line
``{"directed": [[j, i], ...], "undirected": [[a, b], ...], "fit_s": s}``. Methods:

* ``pc``: causal-learn's PC, Fisher-z tests at alpha 0.05 (its defaults), a CPDAG;
* ``ges``: causal-learn's GES with its default BIC score, a CPDAG;
* ``dagma``: DAGMA linear (``DagmaLinear(loss_type="l2")``, ``lambda1=0.02``, the
  package's defaults), edges with ``|W| > 0.3``;
* ``dagma_mlp``: DAGMA nonlinear (``DagmaMLP(dims=[p, 10, 1])``, ``DagmaNonlinear``,
  ``lambda1=0.02, lambda2=0.005``, the package's example settings), edges with
  ``|W| > 0.3``.
"""
import json
import sys
import time

import numpy as np


def cpdag_edges(G):
    """causal-learn's graph matrix: ``G[j, i] == 1 and G[i, j] == -1`` is ``i -> j``;
    both -1 is undirected."""
    p = G.shape[0]
    directed, undirected = [], []
    for a in range(p):
        for b in range(p):
            if G[a, b] == -1 and G[b, a] == 1:
                directed.append([a, b])
            elif a < b and G[a, b] == -1 and G[b, a] == -1:
                undirected.append([a, b])
    return directed, undirected


def main():
    method, path = sys.argv[1], sys.argv[2]
    X = np.load(path)
    t = time.perf_counter()
    undirected = []
    if method == "pc":
        from causallearn.search.ConstraintBased.PC import pc
        cg = pc(X, 0.05, "fisherz", show_progress=False)
        directed, undirected = cpdag_edges(cg.G.graph)
    elif method == "ges":
        from causallearn.search.ScoreBased.GES import ges
        rec = ges(X)
        directed, undirected = cpdag_edges(rec["G"].graph)
    elif method == "dagma":
        from dagma.linear import DagmaLinear
        W = DagmaLinear(loss_type="l2").fit(X, lambda1=0.02)
        directed = [[int(j), int(i)] for j, i in zip(*np.nonzero(np.abs(W) > 0.3))]
    elif method == "dagma_mlp":
        import torch
        from dagma.nonlinear import DagmaMLP, DagmaNonlinear
        torch.set_default_dtype(torch.double)
        torch.manual_seed(0)
        eq = DagmaMLP(dims=[X.shape[1], 10, 1], bias=True)
        W = DagmaNonlinear(eq).fit(X, lambda1=0.02, lambda2=0.005)
        directed = [[int(j), int(i)] for j, i in zip(*np.nonzero(np.abs(W) > 0.3))]
    else:
        raise SystemExit(f"unknown method {method}")
    print(json.dumps({"directed": directed, "undirected": undirected,
                      "fit_s": time.perf_counter() - t}))


if __name__ == "__main__":
    main()
