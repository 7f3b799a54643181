"""root_sampling="empirical" against "copula" and "independent" (the default, "empirical",
was chosen by this measurement).

1. Correlated roots: four roots with correlations up to 0.7 and ``y = tanh(a) + 0.5 b c +
   noise``: the generated correlation matrix error and ``E[y | do(a=1)]`` (truth
   ``tanh(1) + 0.5 cov(b, c)``).
2. Mixed correlated roots: the same latent correlations, with b skewed (``exp``), c binary
   and d zero-inflated: the rank-correlation (Spearman) matrix error of the roots, and the
   share of generated root rows that repeat a training row (to a relative 1e-5: the
   float32 states).
3. Independent Gaussian roots (bench_core's toy SCM, 10k rows, 4 seeds): the worst error of
   bench_core's three interventional queries, so the default costs nothing where the roots
   are independent.

Run::

    python benchmarks/bench_root_sampling.py [--json benchmarks/results/root_sampling.json]
"""
from __future__ import annotations

import argparse
import warnings

import networkx as nx
import numpy as np
import pandas as pd

from _common import TOY_QUERIES, set_torch_threads, toy_do_truth
from _metrics import write_json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--seeds", type=int, default=4)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    set_torch_threads(1)
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm
    out = {"correlated": {}, "mixed": {}, "toy": {}}
    modes = ("independent", "empirical", "copula")
    rng = np.random.default_rng(0)
    C = np.array([[1, .7, .4, .2], [.7, 1, .5, .3], [.4, .5, 1, .6], [.2, .3, .6, 1]])
    R = rng.multivariate_normal(np.zeros(4), C, size=10_000)
    df = pd.DataFrame(R, columns=list("abcd"))
    df["y"] = np.tanh(R[:, 0]) + 0.5 * R[:, 1] * R[:, 2] + 0.3 * rng.normal(size=10_000)
    truth = float(np.tanh(1.0) + 0.5 * C[1, 2])
    graph = nx.DiGraph([(r, "y") for r in "abcd"])
    queries = [(c, do) for c, do, _ in TOY_QUERIES]
    toy_truth = [toy_do_truth(c, do, n=2_000_000) for c, do in queries]
    mixed = df.copy()
    mixed["b"] = np.exp(R[:, 1])
    mixed["c"] = (R[:, 2] > 0.3).astype(np.int64)
    mixed["d"] = np.where(R[:, 3] < -0.2, 0.0, np.exp(0.3 * R[:, 3]))
    roots = list("abcd")

    def ranks(frame):
        return frame[roots].rank().corr().to_numpy()

    for mode in modes:
        g = CCGMGenerator(graph, root_sampling=mode, random_state=0,
                          progress_bar=False).fit(mixed)
        s = g.sample(100_000, random_state=1)
        data_rows = mixed[roots].to_numpy()
        head = s[roots].head(2000).to_numpy()
        repeats = float(np.mean([(np.abs(data_rows - row) <= 1e-5 * (1 + np.abs(row))).all(1).any()
                                   for row in head]))
        out["mixed"][mode] = {"rank_corr_err": float(np.abs(ranks(s) - ranks(mixed)).max()),
                              "repeated_rows": repeats,
                              "zeros_d": (float((s["d"] == 0).mean()),
                                          float((mixed["d"] == 0).mean()))}
    for mode in modes:
        g = CCGMGenerator(graph, root_sampling=mode, random_state=0, progress_bar=False).fit(df)
        s = g.sample(200_000, random_state=1)
        do = float(g.intervene({"a": 1.0}, n_samples=200_000, random_state=2)["y"].mean())
        out["correlated"][mode] = {
            "corr_err": float(np.abs(s.corr().to_numpy() - df.corr().to_numpy()).max()),
            "do_a1": do, "do_err": abs(do - truth)}
        errs = []
        for seed in range(args.seeds):
            g = CCGMGenerator(TOY_GRAPH, root_sampling=mode, random_state=seed,
                              progress_bar=False).fit(toy_scm(10_000, seed))
            errs.append(max(abs(float(g.intervene(do, n_samples=400_000, random_state=2)[
                c].mean()) - t) for (c, do), t in zip(queries, toy_truth)))
        out["toy"][mode] = {"max_err_by_seed": errs, "mean": float(np.mean(errs))}
    print(f"{'':12} {'corr err':>9} {'do err':>8} {'mixed rank-corr err':>20} "
          f"{'repeated rows':>14} {'toy worst err (mean of seeds)':>30}")
    for mode in modes:
        c, m, t = out["correlated"][mode], out["mixed"][mode], out["toy"][mode]
        print(f"{mode:12} {c['corr_err']:9.3f} {c['do_err']:8.3f} {m['rank_corr_err']:20.3f} "
              f"{m['repeated_rows']:14.3f} {t['mean']:30.4f}")
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
