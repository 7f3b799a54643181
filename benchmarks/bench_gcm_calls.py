"""The DoWhy path: ``gcm.fit``, ``gcm.evaluate_causal_model`` and ``gcm.arrow_strength``
with CCGM mechanisms against DoWhy's GOOD auto-assignment, in the same run.

The 4-node SCM of ``bench_core`` (``dowhy_ccgm.experiments.demo.toy_scm``), ``--n`` rows
(default 10k), an ``InvertibleStructuralCausalModel`` on the true graph:

* ``ccgm``: ``assign_ccgm_mechanisms(scm, data)`` (CCGM mechanisms on the non-roots,
  ``EmpiricalDistribution`` roots) with their defaults;
* ``dowhy``: ``gcm.auto.assign_causal_mechanisms(scm, data, quality=GOOD)``.

Timed, each in seconds on one thread (``gcm.config.default_n_jobs = 1``): assignment +
``gcm.fit``; ``gcm.evaluate_causal_model(scm, data, compare_mechanism_baselines=False,
evaluate_invertibility_assumptions=False, evaluate_causal_structure=False)`` (it refits
every mechanism on its cross-validation folds); ``gcm.arrow_strength(scm, "x4",
n_jobs=1)``: its default ``n_jobs=-1`` starts joblib worker processes, which for CCGM
mechanisms means importing torch in each (seconds of start-up, once per pool), so the
in-process call is what measures the mechanisms. The
accuracy column is the worst error of bench_core's interventional means (200k draws of
``gcm.interventional_samples``), so a fast but wrong model shows as such.

Run::

    PYTHONPATH=. python benchmarks/bench_gcm_calls.py [--n 10000] [--json out.json]
"""
from __future__ import annotations

import argparse
import sys
import time

from _common import (TOY_QUERIES, assign_good, fit_gcm, set_thread_env, set_torch_threads,
                     toy_do_truth)
from _metrics import write_json

set_thread_env(1, overwrite=False)


def assign_ccgm(scm, data) -> None:
    """CCGM mechanisms on the non-roots, with their defaults."""
    from dowhy_ccgm.gcm import assign_ccgm_mechanisms
    assign_ccgm_mechanisms(scm, data)


def run(system: str, n: int, seed: int) -> dict:
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed
    from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm
    set_torch_threads(1)
    gcm.config.disable_progress_bars()
    gcm.config.default_n_jobs = 1
    data = toy_scm(n, seed)
    scm, fit_s = fit_gcm(TOY_GRAPH, data, assign_ccgm if system == "ccgm" else assign_good,
                         seed=seed)
    out = {"system": system, "fit_s": fit_s}
    errs = []
    for col, do, _ in TOY_QUERIES:
        truth = toy_do_truth(col, do)
        set_random_seed(1)
        est = gcm.interventional_samples(
            scm, {k: (lambda x, v=v: v) for k, v in do.items()},
            num_samples_to_draw=200_000)[col].mean()
        errs.append(abs(est - truth))
    out["max_do_err"] = float(max(errs))
    set_random_seed(2)
    t0 = time.perf_counter()
    gcm.evaluate_causal_model(scm, data, compare_mechanism_baselines=False,
                              evaluate_invertibility_assumptions=False,
                              evaluate_causal_structure=False)
    out["evaluate_s"] = time.perf_counter() - t0
    set_random_seed(3)
    t0 = time.perf_counter()
    strength = gcm.arrow_strength(scm, "x4", n_jobs=1)
    out["arrow_strength_s"] = time.perf_counter() - t0
    out["arrow_strength"] = {f"{a}->{b}": float(v) for (a, b), v in strength.items()}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--systems", default="ccgm,dowhy")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    rows = [run(s, args.n, args.seed) for s in args.systems.split(",")]
    keys = [("fit_s", "assign + gcm.fit [s]"), ("evaluate_s", "evaluate_causal_model [s]"),
            ("arrow_strength_s", "arrow_strength(x4) [s]"),
            ("max_do_err", "max interventional error")]
    by = {r["system"]: r for r in rows}
    print(f"n = {args.n}, 1 thread each")
    print(f"{'':28s} {'CCGM':>10} {'DoWhy':>10} {'CCGM/DoWhy':>11}")
    for key, label in keys:
        c, d = by.get("ccgm", {}).get(key), by.get("dowhy", {}).get(key)
        fmt = (lambda v: f"{v:.4f}") if key == "max_do_err" else (lambda v: f"{v:.2f}")
        ratio = f"{c / d:.2f}" if c is not None and d else "-"
        print(f"{label:28s} {fmt(c) if c is not None else '-':>10} "
              f"{fmt(d) if d is not None else '-':>10} {ratio:>11}")
    for r in rows:
        print(f"{r['system']}: arrow strengths {r['arrow_strength']}")
    write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
