"""Scale in nodes: CCGM against DoWhy's GOOD auto-assignment on random nonlinear SCMs.

For every graph size (default 4, 10, 20 and 50 nodes) one random DAG with mixed column
kinds is drawn (``random_scm``: about 60% continuous, 25% binary, 15% categorical with
three string labels; up to three parents per node; nonlinear mechanisms - tanh, sine,
squares and products of the parents - with additive Gaussian noise for continuous nodes
and inverse-CDF sampling of logistic / softmax probabilities for discrete ones), and
``--n`` rows (default 10k) are simulated. Each system is fitted in its own fresh
process, so the peak resident memory (``ru_maxrss`` of the child) is that system's:

* ``ccgm``:  ``CCGMGenerator(graph, column_types=...).fit(data)`` (defaults);
* ``dowhy``: ``gcm.auto.assign_causal_mechanisms(scm, data, quality=GOOD)`` + ``gcm.fit``
  (the reported time is assignment + fit, with ``gcm.config.default_n_jobs = 1``).

Accuracy, against the simulator's own ground truth, both in units of the outcome's sd:

* interventional: the error of ``E[y | do(t = hi)] - E[y | do(t = lo)]`` (``t`` a
  continuous ancestor of the outcome ``y``, ``lo``/``hi`` its 20%/80% quantiles;
  truth from 400k simulated rows, model from 200k generated rows);
* counterfactual: the RMSE of ``y`` under ``do(t := t + sd(t))`` for 2,000 observed
  units, the truth computed with the units' own noise. DoWhy's auto-assigned
  classifiers have no ``estimate_noise`` (reported upstream as py-why/dowhy#1146): when
  the graph has a discrete node DoWhy's counterfactuals fail, which is reported as such.

Memory: the peak resident set of the worker process at the end of the fit (imports, the
data and the fit; the ground truth is simulated afterwards), and the fit's own share, the
peak minus the resident set before the fit. "Whole process" includes simulating the data
and the truth. Every process limits itself to ``--threads`` (default 1) threads. Ratios
CCGM/DoWhy are printed for the fit time and the memory; the project's targets: the 50-node
fit no slower than DoWhy GOOD, with peak memory below 1 GB.

Run::

    PYTHONPATH=. python benchmarks/bench_scale.py                 # 4, 10, 20, 50 nodes
    PYTHONPATH=. python benchmarks/bench_scale.py --nodes 4,10 --json out.json
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

from _common import emit, fit_dowhy_good, pin_threads, rss_mb, run_fresh, worker_env
from _metrics import write_json

LABELS = ("a", "b", "c")


# ============================================================================ the SCM
def random_scm(n_nodes: int, seed: int = 0):
    """A random DAG with mixed kinds and nonlinear mechanisms (a JSON-able spec)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    nodes = [f"v{k}" for k in range(n_nodes)]
    kinds, parents, weights, funcs = {}, {}, {}, {}
    for k, v in enumerate(nodes):
        u = rng.random()
        kinds[v] = "continuous" if (k < 2 or u < 0.6) else ("binary" if u < 0.85
                                                            else "categorical")
        if k == 0 or rng.random() < 0.15:
            parents[v] = []
        else:
            m = int(rng.integers(1, min(3, k) + 1))
            parents[v] = sorted(rng.choice(k, size=m, replace=False).tolist())
            parents[v] = [nodes[j] for j in parents[v]]
        width = 3 if kinds[v] == "categorical" else 1
        weights[v] = rng.uniform(0.5, 1.2, size=(len(parents[v]), width)) * \
            rng.choice([-1, 1], size=(len(parents[v]), width))
        funcs[v] = rng.integers(0, 4, size=len(parents[v])).tolist()
    # the outcome: the continuous node with the most ancestors, the treatment its
    # continuous ancestor (closest in the order)
    import networkx as nx
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((p, v) for v in nodes for p in parents[v])
    scm = {"nodes": nodes, "kinds": kinds, "parents": parents,
           "weights": {v: w.tolist() for v, w in weights.items()}, "funcs": funcs,
           "graph": g}
    # the query: among continuous (treatment, outcome) pairs with a causal path, the one
    # with the largest effect of a move from the treatment's 20% to its 80% quantile
    # (20k simulated rows each), so that the error is measured on a real effect
    base, _ = simulate(scm, 20_000, seed + 100)
    best = None
    for y in nodes:
        if kinds[y] != "continuous":
            continue
        for t in nx.ancestors(g, y):
            if kinds[t] != "continuous":
                continue
            lo, hi = np.quantile(base[t], [0.2, 0.8])
            eff = [simulate(scm, 20_000, seed + 101, do={t: v})[0][y].mean() for v in (lo, hi)]
            size = abs(eff[1] - eff[0]) / base[y].std()
            if best is None or size > best[0]:
                best = (size, t, y)
    scm["treatment"], scm["outcome"] = best[1], best[2]
    return scm


def _phi(k, x):
    import numpy as np
    return [np.tanh(1.5 * x), np.sin(1.5 * x), 0.5 * x * x - 0.5, x][k]


def simulate(scm, n: int, seed: int, do: dict | None = None, noise: dict | None = None):
    """Rows of the SCM (and the noise used); ``do`` maps nodes to values or callables of
    the natural value; ``noise`` reuses given noise (counterfactuals)."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(seed)
    do = do or {}
    noise = dict(noise) if noise is not None else {}
    num = {}
    for v in scm["nodes"]:
        kind = scm["kinds"][v]
        if v not in noise:
            noise[v] = rng.normal(size=n) if kind == "continuous" else rng.random(n)
        pa = scm["parents"][v]
        W = np.asarray(scm["weights"][v], dtype=float).reshape(
            len(pa), 3 if kind == "categorical" else 1)
        acc = np.zeros((n, W.shape[1]))
        for r, (p, f) in enumerate(zip(pa, scm["funcs"][v])):
            acc += _phi(f, num[p])[:, None] * W[r][None, :]
        if len(pa) > 1:            # an interaction of the first two parents
            acc += 0.4 * np.tanh(num[pa[0]] * num[pa[1]])[:, None]
        if kind == "continuous":
            x = acc[:, 0] + 0.5 * noise[v] if pa else noise[v]
        elif kind == "binary":
            p1 = 1.0 / (1.0 + np.exp(-(acc[:, 0] + 0.2)))
            x = (noise[v] < p1).astype(float)
        else:
            logits = acc - acc.max(1, keepdims=True)
            pr = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            x = (noise[v][:, None] > np.cumsum(pr, 1)[:, :-1]).sum(1).astype(float)
        if v in do:
            x = do[v](x) if callable(do[v]) else np.full(n, float(do[v]))
        num[v] = x if kind != "categorical" else x - 1.0
    cols = {}
    for v in scm["nodes"]:
        kind = scm["kinds"][v]
        if kind == "categorical":
            cols[v] = pd.Series(np.asarray(LABELS, dtype=object)[(num[v] + 1).astype(int)])
        elif kind == "binary":
            cols[v] = pd.Series(num[v].astype(np.int64))
        else:
            cols[v] = pd.Series(num[v])
    return pd.DataFrame(cols), noise


# ============================================================================ one worker
def worker(system: str, n_nodes: int, n: int, seed: int, threads: int) -> dict:
    pin_threads(threads)
    import numpy as np
    from threadpoolctl import threadpool_limits
    scm = random_scm(n_nodes, seed)
    data, _ = simulate(scm, n, seed + 1)
    y, t = scm["outcome"], scm["treatment"]
    lo, hi = (float(q) for q in np.quantile(data[t], [0.2, 0.8]))
    sd_y, sd_t = float(data[y].std()), float(data[t].std())
    obs, obs_noise = simulate(scm, 2000, 11)
    res = {"system": system, "nodes": n_nodes, "n": n, "seed": seed, "threads": threads,
           "edges": int(scm["graph"].number_of_edges()),
           "kinds": {k: sum(1 for v in scm["kinds"].values() if v == k)
                     for k in ("continuous", "binary", "categorical")},
           "outcome": y, "treatment": t}
    with threadpool_limits(threads):
        if system == "ccgm":
            from dowhy_ccgm import CCGMGenerator
            import dowhy_ccgm._generator  # noqa: F401  (imports outside the measurement)
            types = {v: "categorical" for v, k in scm["kinds"].items() if k == "categorical"}
            rss_before = rss_mb()
            t0 = time.perf_counter()
            gen = CCGMGenerator(scm["graph"], column_types=types, random_state=seed,
                                progress_bar=False).fit(data)
            res["fit_s"] = time.perf_counter() - t0
            res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            res["passes"] = float(gen.history_["epochs"])
            est = [gen.intervene({t: v}, n_samples=200_000, random_state=3)[y].mean()
                   for v in (lo, hi)]
            cf = gen.counterfactual(obs, {t: lambda x: x + sd_t}, random_state=4)[y]
        else:
            from dowhy import gcm
            gcm.config.disable_progress_bars()
            gcm.config.default_n_jobs = 1
            np.random.seed(seed)
            rss_before = rss_mb()
            scm_d, res["fit_s"] = fit_dowhy_good(scm["graph"], data, copy_graph=False)
            res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            est = [gcm.interventional_samples(scm_d, {t: (lambda x, v=v: v)},
                                              num_samples_to_draw=200_000)[y].mean()
                   for v in (lo, hi)]
            try:
                cf = gcm.counterfactual_samples(scm_d, {t: lambda x: x + sd_t},
                                                observed_data=obs)[y]
            except Exception as exc:  # DoWhy's classifiers are not invertible
                cf = None
                res["cf_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    # the truth is simulated after the fit and the model's queries, so that the peak
    # memory measured after the fit is the system's, not the simulator's
    truth_do = [simulate(scm, 200_000, 7, do={t: v})[0][y].mean() for v in (lo, hi)]
    cf_true = simulate(scm, 2000, 11, do={t: lambda x: x + sd_t}, noise=obs_noise)[0][y]
    res["do_err"] = abs((est[1] - est[0]) - (truth_do[1] - truth_do[0])) / sd_y
    res["true_effect"] = (truth_do[1] - truth_do[0]) / sd_y
    res["rss_before_fit_mb"] = rss_before
    res["fit_rss_mb"] = res["peak_rss_mb"] - rss_before
    res["cf_rmse"] = None if cf is None else float(
        np.sqrt(np.mean((np.asarray(cf, dtype=float) - cf_true.to_numpy()) ** 2)) / sd_y)
    return res


def run_worker(system, n_nodes, n, seed, threads, timeout):
    """One worker in a fresh process; its peak RSS is its own (os.wait4)."""
    run = run_fresh([sys.executable, os.path.abspath(__file__), "--worker", system,
                     "--nodes", str(n_nodes), "--n", str(n), "--seed", str(seed),
                     "--threads", str(threads)], env=worker_env(threads), timeout=timeout,
                    merge_stderr=False)
    if run.timed_out:
        return {"system": system, "nodes": n_nodes, "error": f"timeout after {timeout} s"}
    if run.returncode != 0 or run.result is None:
        return {"system": system, "nodes": n_nodes, "error": run.errors.strip()[-400:]}
    res = run.result
    res["process_s"] = run.wall_s
    res["process_peak_rss_mb"] = run.maxrss_mb   # incl. simulating the truth
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", default="4,10,20,50")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--systems", default="ccgm,dowhy")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        emit(None, worker(args.worker, int(args.nodes), args.n, args.seed, args.threads))
        return 0
    results = []
    for k in [int(v) for v in args.nodes.split(",")]:
        for system in args.systems.split(","):
            r = run_worker(system, k, args.n, args.seed, args.threads, args.timeout)
            results.append(r)
            if "error" in r:
                print(f"{system:5s} {k:3d} nodes: ERROR {r['error']}", flush=True)
            else:
                cf = "fails" if r["cf_rmse"] is None else f"{r['cf_rmse']:.3f}"
                print(f"{system:5s} {k:3d} nodes ({r['edges']} edges, {r['kinds']}): fit "
                      f"{r['fit_s']:.1f} s, process {r['process_s']:.1f} s, peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB, do-effect error {r['do_err']:.3f} sd "
                      f"(effect {r['true_effect']:.2f} sd), counterfactual RMSE {cf} sd",
                      flush=True)
    print()
    print(f"{'nodes':>5}  {'metric':32s} {'CCGM':>10} {'DoWhy':>10} {'CCGM/DoWhy':>11}")
    by = {(r["system"], r["nodes"]): r for r in results}
    verdicts = []
    for k in [int(v) for v in args.nodes.split(",")]:
        c, d = by.get(("ccgm", k), {}), by.get(("dowhy", k), {})
        for key, label in [("fit_s", "fit time [s]"), ("process_s", "whole process [s]"),
                           ("peak_rss_mb", "peak RSS after fit [MB]"),
                           ("fit_rss_mb", "fit: peak RSS - RSS before [MB]"),
                           ("do_err", "do-effect error [sd of y]"),
                           ("cf_rmse", "counterfactual RMSE [sd of y]")]:
            cv, dv = c.get(key), d.get(key)
            fmt = (lambda v: "fails" if v is None else f"{v:.3f}") if key in (
                "do_err", "cf_rmse") else (lambda v: "-" if v is None else f"{v:.1f}")
            ratio = f"{cv / dv:.2f}" if isinstance(cv, float) and isinstance(dv, float) \
                and dv > 0 else "-"
            print(f"{k:5d}  {label:32s} {fmt(cv):>10} {fmt(dv):>10} {ratio:>11}")
        if k == 50 and "fit_s" in c and "fit_s" in d:
            verdicts.append(("PASS" if c["fit_s"] <= d["fit_s"] else "MISS",
                             f"50-node fit at most DoWhy GOOD's: {c['fit_s']:.1f} s vs "
                             f"{d['fit_s']:.1f} s"))
            verdicts.append(("PASS" if c["peak_rss_mb"] < 1024 else "MISS",
                             f"50-node peak memory below 1 GB: {c['peak_rss_mb']:.0f} MB"))
    for v, text in verdicts:
        print(f"  [{v}] {text}")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
