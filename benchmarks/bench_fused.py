"""The exact fit's hand-written training step (``dowhy_ccgm.nn._fused``) against autograd
on real data's value forms, in the same run: each data set fitted twice, in a fresh
process per fit (import and first-fit costs included in the process time), with
``dowhy_ccgm._training.FUSED_STEP`` on (the default) and off; the same seed, data and
settings otherwise.

* ``nhefs``: NHEFS, 1,629 smokers, 63 missing outcomes kept (missing cells), the ATE of
  quitting on weight gain (``bench_real.load_nhefs``);
* ``lalonde``: LaLonde's NSW-CPS sample (earnings with zeros and a top-code: two point
  masses, a cap), the ATT against the experiment's 1,794 (``bench_real.load_lalonde``);
* ``sim``: ``simulate_observational(quirks=True)``, 16,000 rows, 1% treated (a rounded
  column, a count with structural zeros, earnings in cents with zeros and a top-code, a
  zero-inflated outcome), the ATT against the truth;
* ``adult``: UCI Adult on ``adult_graph`` (hours with a heap and a cap, capital gains and
  losses with zeros, heaps and a top-code), fitted on a random 80%, the held-out mean
  log-likelihood per row.

Both fits train the same objective with the same gradients to float rounding
(``tests/test_fused.py``), so they take the same number of steps unless rounding moves the
early stop; accuracy is reported beside the times.

Run::

    PYTHONPATH=. python benchmarks/bench_fused.py [--sets nhefs,lalonde,sim,adult] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SETS = ("nhefs", "lalonde", "sim", "adult")


def one_fit(name: str, fused: bool, seed: int) -> dict:
    """Fit data set ``name`` once (this process), with the hand-written step or autograd."""
    import numpy as np
    import dowhy_ccgm._training as training
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.effects import average_effect, effect_on_treated
    from _common import star_graph
    training.FUSED_STEP = fused
    kw, truth = {}, None
    if name == "nhefs":
        from bench_real import NHEFS_COVARIATES, load_nhefs
        data, graph = load_nhefs(), star_graph(NHEFS_COVARIATES, "qsmk", "wt82_71")
    elif name == "lalonde":
        from bench_real import LALONDE_COVARIATES, load_lalonde
        data, truth, _ = load_lalonde()
        graph = star_graph(LALONDE_COVARIATES, "treat", "re78")
    elif name == "sim":
        from dowhy_ccgm.datasets import OBS_CONFOUNDERS, simulate_observational
        data, t = simulate_observational(16_000, treated_share=0.01, quirks=True,
                                         random_state=seed)
        truth, graph = t["att"], star_graph(OBS_CONFOUNDERS, "D", "Y")
        kw = {"column_types": {"x6": "binary", "x7": "categorical", "D": "binary"}}
    elif name == "adult":
        from dowhy_ccgm.datasets import adult_graph, load_adult
        full, graph = load_adult(), adult_graph()
        held = np.random.default_rng(seed).random(len(full)) < 0.2
        data, test = full[~held], full[held]
    else:
        raise ValueError(f"unknown data set {name!r}; choose from {SETS}")
    t0 = time.perf_counter()
    gen = CCGMGenerator(graph, random_state=seed, progress_bar=False, **kw).fit(data)
    fit_s = time.perf_counter() - t0
    out = {"fit_s": fit_s, "steps": int(gen.history_.get("steps", 0)),
           "passes": float(gen.history_["epochs"]), "best_val": float(min(gen.history_["val"]))}
    if name == "nhefs":
        out["estimate"] = ("ATE [kg]", average_effect(gen, "qsmk", "wt82_71",
                                                      n_samples=400_000, random_state=seed))
    elif name in ("lalonde", "sim"):
        tr, y = ("treat", "re78") if name == "lalonde" else ("D", "Y")
        att = effect_on_treated(gen, data, tr, y, random_state=seed)
        out["estimate"] = ("ATT, abs. error", abs(att - truth))
    else:
        out["estimate"] = ("held-out log-lik. per row", float(gen.score(test)))
    return out


def run(name: str, fused: bool, seed: int) -> dict:
    """:func:`one_fit` in a fresh process; adds the whole process's wall time."""
    code = (f"import json, sys; sys.path.insert(0, {HERE!r}); import bench_fused; "
            f"print('RESULT', json.dumps(bench_fused.one_fit({name!r}, {fused}, {seed})))")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), HERE,
                                         env.get("PYTHONPATH", "")])
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env)
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{name} (fused={fused}) failed:\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1][len("RESULT "):])
    out["process_s"] = wall
    return out


def main(argv=None) -> int:
    from _common import git_head
    from _metrics import write_json
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    results = {}
    for name in args.sets.split(","):
        results[name] = {}
        for mode, fused in (("autograd", False), ("fused", True)):
            r = run(name, fused, args.seed)
            results[name][mode] = r
            print(f"{name:8s} {mode:8s} fit {r['fit_s']:6.1f} s (process {r['process_s']:6.1f}"
                  f" s), {r['steps']} steps, best validation {r['best_val']:.4f}; "
                  f"{r['estimate'][0]} {r['estimate'][1]:.4f}", file=sys.stderr)
        a, f = results[name]["autograd"], results[name]["fused"]
        results[name]["speedup"] = a["fit_s"] / f["fit_s"]
        print(f"{name:8s} autograd / fused fit time: {results[name]['speedup']:.2f}",
              file=sys.stderr)
    write_json(args.json, {"args": vars(args), "git": git_head(), "sets": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
