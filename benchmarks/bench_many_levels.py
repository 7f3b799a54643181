"""Many-level categoricals: a 300-level root ("school") parent of a chain of 10 continuous
nodes, 20k rows; the compact layout (the node's state is its code, its children read a
learned row per level, its logits come through a rank-16 head) against one mask input and
one mask output per level (the layout of format-2 model files,
``max_direct_categories=None``), in the same run: state width, mask output width, fit time,
steps, and the error of E[v0 | do(school = k)] against the truth for every 30th school.

Run::

    PYTHONPATH=. python benchmarks/bench_many_levels.py [--json PATH]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import networkx as nx
import numpy as np
import pandas as pd

from _common import set_torch_threads
from _metrics import write_json


def simulate(K: int, n: int, depth: int, seed: int):
    rng = np.random.default_rng(seed)
    school = rng.integers(0, K, n)
    eff = rng.normal(size=(K, depth))
    cols = {"school": pd.Categorical(school, categories=range(K))}
    edges = []
    for j in range(depth):
        v = eff[school, j] + (0.5 * cols[f"v{j - 1}"] if j else 0.0) + 0.3 * rng.normal(size=n)
        cols[f"v{j}"] = v
        edges.append(("school", f"v{j}"))
        if j:
            edges.append((f"v{j - 1}", f"v{j}"))
    return pd.DataFrame(cols), nx.DiGraph(edges), eff[:, 0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--levels", type=int, default=300)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    set_torch_threads(1)
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm._build import MAX_DIRECT_CATEGORIES, NetConfig
    df, graph, truth = simulate(args.levels, args.n, args.depth, 0)
    rows = {}
    # the layout is a field of the net's configuration (NetConfig), which the fit builds
    # from the estimator's parameters: the run overrides that one field
    from_params = NetConfig.__dict__["from_params"]
    try:
        for name, cap in (("compact", MAX_DIRECT_CATEGORIES), ("one per level", None)):
            NetConfig.from_params = classmethod(
                lambda cls, params, cap=cap, **kw: from_params.__func__(
                    cls, params, **{"max_direct_categories": cap, **kw}))
            t = time.perf_counter()
            gen = CCGMGenerator(graph, random_state=0, progress_bar=False).fit(df)
            fit_s = time.perf_counter() - t
            errs = [abs(gen.intervene({"school": k}, n_samples=20_000, random_state=1)["v0"]
                        .mean() - truth[k]) for k in range(0, args.levels, 30)]
            net = gen.model_.net
            rows[name] = {"state_width": net.width, "mask_outputs": net.n_out, "fit_s": fit_s,
                          "steps": int(gen.history_["steps"]),
                          "do_error_max": float(max(errs)), "do_error_mean": float(np.mean(errs))}
            r = rows[name]
            print(f"{name:>14}: state width {r['state_width']}, mask outputs "
                  f"{r['mask_outputs']}, fit {fit_s:.1f} s ({r['steps']} steps), do-error "
                  f"mean {r['do_error_mean']:.3f} max {r['do_error_max']:.3f}", flush=True)
    finally:
        NetConfig.from_params = from_params
    ratio = rows["one per level"]["fit_s"] / rows["compact"]["fit_s"]
    print(f"fit time, one per level / compact: {ratio:.2f}")
    write_json(args.json, {"args": vars(args), "rows": rows, "speedup": ratio})
    return 0


if __name__ == "__main__":
    sys.exit(main())
