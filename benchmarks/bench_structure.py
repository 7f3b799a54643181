"""Structure learning against PC, GES and DAGMA, with and without what the user knows.

Data (every method sees the same rows; standardised unless the configuration says raw):

* random DAGs: Erdos-Renyi (``er``) or scale-free (``sf``, preferential attachment), 10,
  20 or 50 nodes, expected degree 2; mechanisms ``mlp`` (each node a random one-hidden-layer
  sigmoid network of its standardised parents, 100 units, weights of magnitude 0.5-2 as in
  the nonlinear SEM of NOTEARS and DAGMA's papers, not additive in the parents; its output
  rescaled to an sd drawn in [1, 2], so no edge is vacuous, plus N(0, 1) noise),
  ``linear`` (Gaussian, weights 0.5-2) or ``mixed`` (``mlp`` with a third of the nodes
  cut into binary or three-level columns that their children read);
* Sachs et al. (2005): 7,466 pooled flow-cytometry rows of 11 proteins and the 18-edge
  consensus graph that ``cdt`` ships (it has a cycle, so no tiers are given there; its
  wheel is fetched with pip into ``--cache``; the data are not part of this repository).

Methods: ``ccgm`` (:func:`dowhy_ccgm.structure.learn_graph`, no knowledge), ``ccgm_bic``
(the same with ``min_r2=0``: BIC alone), ``ccgm_30pct``
(30% of the true edges given as required), ``ccgm_tiers`` (the true order cut into three
tiers), ``ccgm_paper`` (``CCGMGenerator(learn_structure="paper", exogenous=[])``, the
causal layer under H(G), 10-node graphs and Sachs only: about 20 s a fit); the peers from
the structure peers' virtualenv (``peers/structure-requirements.txt``), each in its own
process: ``pc``, ``ges`` (causal-learn, CPDAGs), ``dagma`` (linear) and ``dagma_mlp``
(nonlinear; its package's default schedule of 230,000 Adam steps takes over ten minutes a fit
on this project's 2-core machine, so by default it runs only on the ``--mlp-seeds`` of the
nonlinear configurations of at most ``--mlp-max-nodes`` nodes and 2,000 rows, and on Sachs
with ``--mlp-sachs``).

Reported per configuration, as means over the seeds: SHD (an extra, missing or reversed
edge counts once; an undirected CPDAG edge counts as a reversal), precision and recall of
the directed edges, and the fit time (in-process for CCGM, inside the worker for the
peers). Also the empty graph's SHD (the number of true edges).

``--only ccgm,ccgm_bic --update`` reruns some methods and merges them into an existing
``--json`` (the peers' runs kept).

Run::

    PYTHONPATH=. python benchmarks/bench_structure.py [--quick] [--json PATH]
        [--peers-python /work/structure-venv/bin/python]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile

import numpy as np

from _common import HERE, set_torch_threads
from _metrics import write_json

PEERS = ("pc", "ges", "dagma", "dagma_mlp")
WORKER = os.path.join(HERE, "peers", "structure_worker.py")


# ----------------------------------------------------------------------------- data
def random_dag(p: int, kind: str, rng) -> np.ndarray:
    """Adjacency (p, p), ``[j, i]`` the edge ``j -> i``, expected degree 2, nodes in a
    random order."""
    A = np.zeros((p, p), dtype=bool)
    if kind == "er":
        prob = 2.0 / (p - 1)
        for i in range(p):
            for j in range(i):
                A[j, i] = rng.random() < prob
    else:                      # scale-free: each new node attaches to one earlier node by degree
        deg = np.ones(p)
        for i in range(1, p):
            j = rng.choice(i, p=deg[:i] / deg[:i].sum())
            A[j, i] = True
            deg[i] += 1
            deg[j] += 1
    perm = rng.permutation(p)
    return A[np.ix_(perm, perm)]


def _weights(rng, shape):
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def simulate(A: np.ndarray, n: int, mech: str, rng):
    """Rows of the SEM on ``A``; the kinds (``"continuous"``, ``"binary"``,
    ``"categorical"``) of the columns."""
    import networkx as nx
    p = A.shape[0]
    order = list(nx.topological_sort(nx.DiGraph(list(zip(*np.nonzero(A))))))
    order += [i for i in range(p) if i not in order]
    X = np.zeros((n, p))
    kinds = ["continuous"] * p
    cut = set(rng.choice(p, p // 3, replace=False)) if mech == "mixed" else set()
    for i in order:
        pa = np.nonzero(A[:, i])[0]
        x = rng.normal(size=n)
        if len(pa):
            P = X[:, pa]
            if mech == "linear":
                x = x + P @ _weights(rng, len(pa))
            else:             # on standardised parents; the signal's sd drawn in [1, 2]
                Z = (P - P.mean(0)) / P.std(0)
                H = 1.0 / (1.0 + np.exp(-(Z @ _weights(rng, (len(pa), 100)))))
                f = H @ _weights(rng, 100)
                x = x + (f - f.mean()) / f.std() * rng.uniform(1.0, 2.0)
        if i in cut:
            if rng.random() < 0.5:
                x = (x > np.median(x)).astype(float)
                kinds[i] = "binary"
            else:
                x = np.digitize(x, np.quantile(x, [1 / 3, 2 / 3])).astype(float)
                kinds[i] = "categorical"
        X[:, i] = x
    return X, kinds


def sachs(cache: str):
    """The Sachs data and consensus graph from the ``cdt`` wheel (fetched with pip)."""
    import pandas as pd
    os.makedirs(cache, exist_ok=True)
    wheels = glob.glob(os.path.join(cache, "cdt-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                        cache, "cdt==0.6.0"], check=True)
        wheels = glob.glob(os.path.join(cache, "cdt-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        data = pd.read_csv(z.open("cdt/data/resources/cyto_full_data.csv"))
        target = pd.read_csv(z.open("cdt/data/resources/cyto_full_target.csv"))
    cols = list(data.columns)
    A = np.zeros((len(cols), len(cols)), dtype=bool)
    for a, b in target[["Cause", "Effect"]].itertuples(index=False):
        A[cols.index(a), cols.index(b)] = True
    return data.to_numpy(dtype=float), A, cols


# ----------------------------------------------------------------------------- scoring
def scores(A: np.ndarray, directed, undirected) -> dict:
    """SHD, directed precision and recall of a prediction against the truth ``A``."""
    p = A.shape[0]
    P = np.zeros_like(A)
    for j, i in directed:
        P[j, i] = True
    for a, b in undirected:
        P[a, b] = P[b, a] = True
    shd = sum((A[a, b], A[b, a]) != (P[a, b], P[b, a])
              for a in range(p) for b in range(a + 1, p))
    directed_p = {(int(j), int(i)) for j, i in directed}
    tp = sum(A[j, i] for j, i in directed_p)
    return {"shd": int(shd), "precision": tp / len(directed_p) if directed_p else None,
            "recall": tp / A.sum() if A.sum() else None, "edges": len(directed_p),
            "undirected": len(undirected)}


# ----------------------------------------------------------------------------- methods
def run_ccgm(X, kinds, A, method, rng):
    import pandas as pd
    from dowhy_ccgm.structure import Knowledge, learn_graph
    p = X.shape[1]
    names = [f"x{k}" for k in range(p)]
    df = pd.DataFrame(X, columns=names)
    for k, kind in enumerate(kinds):
        if kind != "continuous":
            df[names[k]] = pd.Categorical(df[names[k]].astype(int))
    kn = Knowledge()
    if method == "ccgm_30pct":
        edges = list(zip(*np.nonzero(A)))
        given = rng.choice(len(edges), int(round(0.3 * len(edges))), replace=False) \
            if edges else []
        kn = Knowledge(required=[(names[edges[k][0]], names[edges[k][1]]) for k in given])
    elif method == "ccgm_tiers":
        import networkx as nx
        D = nx.DiGraph(list(zip(*np.nonzero(A))))
        D.add_nodes_from(range(p))
        if not nx.is_directed_acyclic_graph(D):
            raise ValueError("the true graph has a cycle: no tiers")
        order = list(nx.topological_sort(D))
        kn = Knowledge(tiers=[[names[i] for i in part] for part in np.array_split(order, 3)])
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "ccgm_paper":
            from dowhy_ccgm import CCGMGenerator
            gen = CCGMGenerator(learn_structure="paper", exogenous=[], random_state=0,
                                progress_bar=False).fit(df)
            G = gen.graph_
        elif method == "ccgm_bic":
            G = learn_graph(df, kn, min_r2=0.0)
        else:
            G = learn_graph(df, kn)
    fit_s = time.perf_counter() - t
    idx = {v: k for k, v in enumerate(names)}
    return [[idx[a], idx[b]] for a, b in G.edges], [], fit_s


def run_peer(X, method, python, timeout):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2",
                   OPENBLAS_NUM_THREADS="2")
        try:
            out = subprocess.run([python, WORKER, method, path], capture_output=True,
                                 text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout} s"
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return (r["directed"], r["undirected"], r["fit_s"]), None


def evaluate(X, kinds, A, methods, args, rng) -> dict:
    out = {"empty": scores(A, [], [])}
    for m in methods:
        if m.startswith("ccgm"):
            try:
                d, u, fit_s = run_ccgm(X, kinds, A, m, rng)
            except ValueError as exc:         # (knowledge the truth cannot give)
                out[m] = {"error": str(exc)}
                print(f"    {m}: {exc}", file=sys.stderr)
                continue
        else:
            res, err = run_peer(X, m, args.peers_python, args.timeout)
            if res is None:
                out[m] = {"error": err}
                print(f"    {m}: {err}", file=sys.stderr)
                continue
            d, u, fit_s = res
        out[m] = {**scores(A, d, u), "fit_s": fit_s}
        print(f"    {m}: SHD {out[m]['shd']} (edges {out[m]['edges']}+{out[m]['undirected']}u,"
              f" true {int(A.sum())}), {fit_s:.1f} s", file=sys.stderr)
    return out


def configurations(args) -> list:
    """(name, graph kind, nodes, rows, mechanism, standardise, seeds)."""
    s = [int(x) for x in args.seeds.split(",")]
    if args.quick:
        return [("er-mlp-10-2k", "er", 10, 2000, "mlp", True, s[:1])]
    return [("er-mlp-10-2k", "er", 10, 2000, "mlp", True, s),
            ("er-mlp-20-2k", "er", 20, 2000, "mlp", True, s),
            ("sf-mlp-20-2k", "sf", 20, 2000, "mlp", True, s),
            ("er-mlp-10-10k", "er", 10, 10_000, "mlp", True, s),
            ("er-mlp-50-2k", "er", 50, 2000, "mlp", True, s),
            ("er-linear-10-2k", "er", 10, 2000, "linear", True, s),
            ("er-mixed-20-2k", "er", 20, 2000, "mixed", True, s),
            ("er-mlp-10-2k-raw", "er", 10, 2000, "mlp", False, s[:1])]


def summarise(runs: list) -> dict:
    methods = sorted({m for r in runs for m in r})
    out = {}
    for m in methods:
        ok = [r[m] for r in runs if m in r and "error" not in r[m]]
        if not ok:
            continue
        out[m] = {k: float(np.mean([o[k] for o in ok if o.get(k) is not None]))
                  if any(o.get(k) is not None for o in ok) else None
                  for k in ("shd", "precision", "recall", "fit_s", "edges")}
        out[m]["runs"] = len(ok)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--peers-python", default="/work/structure-venv/bin/python")
    p.add_argument("--mlp-max-nodes", type=int, default=10)
    p.add_argument("--mlp-seeds", default="0", help="the seeds DAGMA-MLP runs on")
    p.add_argument("--mlp-sachs", action="store_true", help="also run DAGMA-MLP on Sachs")
    p.add_argument("--timeout", type=int, default=1200)
    p.add_argument("--no-sachs", action="store_true")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "ccgm-bench-cache"))
    p.add_argument("--json", default=None)
    p.add_argument("--only", default=None,
                   help="comma-separated methods to run (the others are skipped)")
    p.add_argument("--update", action="store_true",
                   help="merge this run's methods into the runs of the existing --json")
    args = p.parse_args(argv)
    if args.update and not (args.json and os.path.exists(args.json)):
        p.error("--update needs an existing --json")
    set_torch_threads(2)
    have_peers = os.path.exists(args.peers_python)
    if not have_peers:
        print(f"no peers interpreter at {args.peers_python}: CCGM only", file=sys.stderr)
    t0 = time.perf_counter()
    result = {"args": vars(args), "configs": {}}
    if args.update:
        with open(args.json) as f:
            result = json.load(f)
        result.setdefault("updates", []).append(vars(args))
    only = set(args.only.split(",")) if args.only else None

    def chosen(methods):
        return [m for m in methods if only is None or m in only]

    def merged(name, runs):
        """This run's results merged into the existing runs of ``name`` (--update)."""
        if not args.update or name not in result["configs"]:
            return runs
        old = result["configs"][name]["runs"]
        for k, run in enumerate(runs):
            old[k].update({m: v for m, v in run.items() if m != "empty"})
        return old
    for name, kind, nodes, n, mech, standardise, seeds in configurations(args):
        runs = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            A = random_dag(nodes, kind, rng)
            X, kinds = simulate(A, n, mech, rng)
            if standardise:
                X = (X - X.mean(0)) / X.std(0)
            methods = ["ccgm", "ccgm_bic", "ccgm_30pct", "ccgm_tiers"]
            if nodes <= 10 and n <= 2000 and standardise and mech == "mlp":
                methods.append("ccgm_paper")
            if have_peers:
                methods += [m for m in PEERS if m != "dagma_mlp" or (
                    nodes <= args.mlp_max_nodes and n <= 2000 and mech == "mlp"
                    and standardise and str(seed) in args.mlp_seeds.split(","))]
            print(f"{name} seed {seed}: {int(A.sum())} true edges", file=sys.stderr)
            runs.append(evaluate(X, kinds, A, chosen(methods), args,
                                 np.random.default_rng(seed + 99)))
        runs = merged(name, runs)
        result["configs"][name] = {"runs": runs, "summary": summarise(runs)}
        if args.json:                 # (after every configuration: a crash loses nothing)
            write_json(args.json, result)
    if not args.no_sachs and not args.quick:
        X, A, cols = sachs(args.cache)
        X = (X - X.mean(0)) / X.std(0)
        print(f"sachs: {int(A.sum())} consensus edges, {len(X)} rows", file=sys.stderr)
        methods = ["ccgm", "ccgm_bic", "ccgm_30pct", "ccgm_tiers", "ccgm_paper"] + (
            [m for m in PEERS if m != "dagma_mlp" or args.mlp_sachs] if have_peers else [])
        runs = merged("sachs", [evaluate(X, ["continuous"] * X.shape[1], A, chosen(methods),
                                         args, np.random.default_rng(99))])
        result["configs"]["sachs"] = {"runs": runs, "summary": summarise(runs),
                                      "columns": cols}
    result["update_wall_s" if args.update else "wall_s"] = time.perf_counter() - t0
    for name, c in result["configs"].items():
        print(name, {m: round(v["shd"], 1) for m, v in c["summary"].items()}, file=sys.stderr)
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
