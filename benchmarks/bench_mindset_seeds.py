"""The mindset de-biased ATE over model seeds (the project's accuracy target for the
DoWhy-free path): fit the improved CCGM
(``dowhy_ccgm.experiments.mindset.fit_improved_model``, its defaults) on the shipped data
with seeds 0..4, remove the confounding edges into the treatment (``how="marginal"``), and
report the naive ATE of 200k generated rows before (the data's naive ATE is 0.471) and
after (the real-data AIPW 95% interval is [0.378, 0.441]), with the fit time.

Run::

    PYTHONPATH=. python benchmarks/bench_mindset_seeds.py [--seeds 0,1,2,3,4] [--json out.json]
    PYTHONPATH=. python benchmarks/bench_mindset_seeds.py --covariates all [--json out.json]
"""
from __future__ import annotations

import argparse
import sys
import time

from _common import set_torch_threads
from _metrics import write_json


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--n", type=int, default=200_000, help="generated rows per data set")
    p.add_argument("--covariates", choices=("paper", "all"), default="paper",
                   help="all: the all-covariate model of `ccgm mindset --covariates all` "
                        "(de-biased ATE, g-formula ATE and counterfactual ATT per seed, "
                        "against the all-covariate AIPW interval given by --aipw-interval)")
    p.add_argument("--aipw-interval", default="0.357,0.420",
                   help="with --covariates all: the all-covariate AIPW 95%% interval of the "
                        "`ccgm mindset --covariates all` run (default: seed 0's)")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.covariates == "all":
        return _all_covariates(args)
    from dowhy_ccgm.ate import naive_ate
    from dowhy_ccgm.datasets import load_mindset
    from dowhy_ccgm.experiments import mindset as M
    set_torch_threads(1)
    data = load_mindset()
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        t0 = time.perf_counter()
        gen = M.fit_improved_model(data, random_state=seed, progress_bar=False)
        fit_s = time.perf_counter() - t0
        fair = M.debias_treatment(gen, "marginal", random_state=seed)
        naive = naive_ate(gen.sample(args.n, random_state=seed + 10), M.D, M.Y)
        debiased = naive_ate(fair.sample(args.n, random_state=seed + 10), M.D, M.Y)
        rows.append({"seed": seed, "fit_s": fit_s, "passes": float(gen.history_["epochs"]),
                     "naive": float(naive), "debiased": float(debiased),
                     "inside_aipw_interval": bool(0.378 <= debiased <= 0.441)})
        print(f"seed {seed}: fit {fit_s:.1f} s ({rows[-1]['passes']:.0f} passes), generated "
              f"naive {naive:.3f}, de-biased {debiased:.3f}", flush=True)
    inside = sum(r["inside_aipw_interval"] for r in rows)
    print(f"de-biased inside the AIPW interval [0.378, 0.441]: {inside} of {len(rows)}")
    write_json(args.json, rows)
    return 0


def _all_covariates(args) -> int:
    from dowhy_ccgm.datasets import load_mindset
    from dowhy_ccgm.experiments import mindset_all as MA
    set_torch_threads(1)
    data = load_mindset()
    lo, hi = (float(v) for v in args.aipw_interval.split(","))
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        t0 = time.perf_counter()
        gen = MA.fit_full_model(data, random_state=seed, progress_bar=False)
        fit_s = time.perf_counter() - t0
        eff = MA.ccgm_effects(gen, data, n_population=args.n, random_state=seed)
        rows.append({"seed": seed, "fit_s": fit_s, "passes": float(gen.history_["epochs"]),
                     **{k: float(v) for k, v in eff.items()},
                     "inside_aipw_interval": bool(lo <= eff["de-biased"] <= hi)})
        print(f"seed {seed}: fit {fit_s:.1f} s ({rows[-1]['passes']:.0f} passes), de-biased "
              f"{eff['de-biased']:.3f}, g-formula {eff['g-formula']:.3f}, ATT {eff['ATT']:.3f}",
              flush=True)
    inside = sum(r["inside_aipw_interval"] for r in rows)
    print(f"de-biased inside the all-covariate AIPW interval [{lo:.3f}, {hi:.3f}]: {inside} of "
          f"{len(rows)}")
    write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
