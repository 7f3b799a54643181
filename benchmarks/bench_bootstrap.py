"""Calibration of the mindset intervals on ground truth: does a nominal 95% interval of the
de-biased ATE cover the true ATE (0.40) 95% of the time?

For each of R independent data sets from ``simulate_mindset`` (n = 10,391 rows, the real
data's size, true ATE 0.40), the improved CCGM of ``ccgm mindset`` is fit, the confounding
edges into the treatment are removed (``how="marginal"``) and the de-biased ATE is the
naive difference of means of the generated data. Three 95% intervals per data set:

(a) ``one-model``: today's table: ``bootstrap_ate`` over B resamples of ONE generated data
    set of n rows (the fit's uncertainty is left out);
(b) ``refit``: :func:`dowhy_ccgm.bootstrap.bootstrap`: B refits on resamples of the data,
    each generating ``n_samples`` de-biased rows (percentile interval; the normal interval
    ``estimate +- 1.96 sd`` is reported beside it);
(c) ``AIPW``: ``bootstrap_ate(..., "aipw")`` on the data (it refits its nuisance models on
    every resample): the reference a user compares with.

Printed and written (``--json``): coverage of 0.40 with its exact (Clopper-Pearson) 95%
band, mean interval width, and the wall time of one refit bootstrap with 1 and 2 workers.

Run::

    PYTHONPATH=. python benchmarks/bench_bootstrap.py --R 20 --B 50 --n-jobs 2 \\
        --json benchmarks/results/bootstrap.json
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from _common import set_torch_threads
from _metrics import write_json


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple:
    from scipy.stats import beta
    a = 1 - level
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def binomial_band(n: int, p: float = 0.95, level: float = 0.95) -> tuple:
    """The central range of covered counts (as shares) a calibrated interval gives."""
    from scipy.stats import binom
    a = 1 - level
    return float(binom.ppf(a / 2, n, p) / n), float(binom.ppf(1 - a / 2, n, p) / n)


def one_data_set(r: int, args, true_ate: float) -> dict:
    from dowhy_ccgm.ate import bootstrap_ate
    from dowhy_ccgm.bootstrap import NaiveATE, bootstrap
    from dowhy_ccgm.datasets import simulate_mindset
    from dowhy_ccgm.experiments import mindset as M
    seeds = np.random.SeedSequence([args.seed, r]).generate_state(5)
    sim, _ = simulate_mindset(args.n, ate=true_ate, random_state=int(seeds[0]))
    t0 = time.perf_counter()
    gen = M.fit_improved_model(sim, random_state=int(seeds[1]), progress_bar=False)
    fit_s = time.perf_counter() - t0
    # (a) one generated data set, resampled
    cut = M.debias_treatment(gen, "marginal", int(seeds[2]))
    one = cut.sample(args.n, random_state=int(seeds[3]))
    a = bootstrap_ate(one, "naive", treatment=M.D, outcome=M.Y, n_bootstrap=args.B,
                      random_state=int(seeds[3]), progress_bar=False)
    a_est = float(one[M.Y][one[M.D] == 1].mean() - one[M.Y][one[M.D] == 0].mean())
    # (b) the refit bootstrap; the fitted model above gives its point estimate
    stat = NaiveATE(M.D, M.Y, remove_edges=[(M.SE, M.D), (M.SM, M.D)],
                    n_samples=args.n_samples)
    t0 = time.perf_counter()
    b = bootstrap(gen, sim, stat, n_bootstrap=args.B, random_state=int(seeds[4]),
                  n_jobs=args.n_jobs, progress_bar=False)
    refit_s = time.perf_counter() - t0
    b_lo, b_hi = b.interval()
    b_est, b_sd = b.estimate["statistic"], float(b.replicates["statistic"].std(ddof=1))
    rec = {"r": r, "fit_s": fit_s, "refit_bootstrap_s": refit_s,
           "one_model": {"estimate": a_est, "sd": a["sd"], "low": a["q025"],
                         "high": a["q975"]},
           "refit": {"estimate": b_est, "sd": b_sd, "low": b_lo, "high": b_hi,
                     "normal_low": b_est - 1.96 * b_sd, "normal_high": b_est + 1.96 * b_sd}}
    if not args.no_aipw:
        c = bootstrap_ate(sim, "aipw", treatment=M.D, outcome=M.Y, common_causes=M.COVARIATES,
                          n_bootstrap=args.B, random_state=int(seeds[4]), n_jobs=args.n_jobs,
                          progress_bar=False)
        rec["aipw"] = {"estimate": c["mean"], "sd": c["sd"], "low": c["q025"],
                       "high": c["q975"]}
    return rec


def coverage(records, key, true_ate, lo="low", hi="high") -> dict:
    rows = [r[key] for r in records if key in r]
    k = sum(r[lo] <= true_ate <= r[hi] for r in rows)
    est = np.array([r["estimate"] for r in rows])
    return {"covered": int(k), "R": len(rows), "coverage": k / len(rows),
            "coverage_ci": clopper_pearson(k, len(rows)),
            "mean_width": float(np.mean([r[hi] - r[lo] for r in rows])),
            "mean_sd": float(np.mean([r["sd"] for r in rows])),
            "sd_of_estimates": float(est.std(ddof=1)),
            "mean_error": float(est.mean() - true_ate)}


def timing(args, true_ate: float) -> dict:
    """Wall time of one refit bootstrap (B_timing refits) with 1 and 2 workers."""
    import dowhy_ccgm._generator  # noqa: F401  (import cost outside the timing)
    from dowhy_ccgm.bootstrap import NaiveATE, bootstrap
    from dowhy_ccgm.datasets import simulate_mindset
    from dowhy_ccgm.experiments import mindset as M
    sim, _ = simulate_mindset(args.n, ate=true_ate, random_state=12345)
    gen = M.fit_improved_model(sim, random_state=0, progress_bar=False)
    stat = NaiveATE(M.D, M.Y, remove_edges=[(M.SE, M.D), (M.SM, M.D)],
                    n_samples=args.n_samples)
    out = {"B": args.B_timing}
    for jobs in (1, 2):
        t0 = time.perf_counter()
        res = bootstrap(gen, sim, stat, n_bootstrap=args.B_timing, random_state=7,
                        n_jobs=jobs, progress_bar=False)
        out[f"wall_s_{jobs}"] = time.perf_counter() - t0
        out[f"replicates_{jobs}"] = res.replicates["statistic"].tolist()
    out["speedup"] = out["wall_s_1"] / out["wall_s_2"]
    out["identical"] = out["replicates_1"] == out["replicates_2"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--R", type=int, default=20, help="simulated data sets")
    p.add_argument("--B", type=int, default=50, help="bootstrap resamples / refits")
    p.add_argument("--n", type=int, default=10_391)
    p.add_argument("--n-samples", type=int, default=100_000, dest="n_samples",
                   help="generated rows per refit statistic")
    p.add_argument("--n-jobs", type=int, default=2, dest="n_jobs")
    p.add_argument("--B-timing", type=int, default=8, dest="B_timing")
    p.add_argument("--no-aipw", action="store_true", dest="no_aipw")
    p.add_argument("--no-timing", action="store_true", dest="no_timing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    set_torch_threads(1)
    true_ate = 0.40
    t_start = time.perf_counter()
    out = {"settings": {k: v for k, v in vars(args).items() if k != "json"},
           "true_ate": true_ate}
    if not args.no_timing:
        out["timing"] = timing(args, true_ate)
        t = out["timing"]
        print(f"refit bootstrap, B = {t['B']}: 1 worker {t['wall_s_1']:.1f} s, 2 workers "
              f"{t['wall_s_2']:.1f} s (x{t['speedup']:.2f}); identical replicates: "
              f"{t['identical']}", flush=True)
    records = []
    for r in range(args.R):
        records.append(one_data_set(r, args, true_ate))
        rec = records[-1]
        print(f"data set {r}: one-model [{rec['one_model']['low']:.3f}, "
              f"{rec['one_model']['high']:.3f}]  refit {rec['refit']['estimate']:.3f} "
              f"[{rec['refit']['low']:.3f}, {rec['refit']['high']:.3f}]"
              + (f"  AIPW [{rec['aipw']['low']:.3f}, {rec['aipw']['high']:.3f}]"
                 if "aipw" in rec else "")
              + f"  ({rec['refit_bootstrap_s']:.0f} s)", flush=True)
    out["records"] = records
    out["coverage"] = {
        "one-model": coverage(records, "one_model", true_ate),
        "refit": coverage(records, "refit", true_ate),
        "refit (normal)": coverage(records, "refit", true_ate, "normal_low", "normal_high"),
    }
    if not args.no_aipw:
        out["coverage"]["AIPW"] = coverage(records, "aipw", true_ate)
    out["binomial_band"] = binomial_band(args.R)
    out["wall_s"] = time.perf_counter() - t_start
    band = out["binomial_band"]
    print(f"\ncoverage of the true ATE {true_ate} by nominal 95% intervals, R = {args.R} data "
          f"sets, B = {args.B} (a calibrated interval covers {band[0]:.0%}-{band[1]:.0%} of "
          "the time, 95% binomial band):")
    for name, c in out["coverage"].items():
        print(f"  {name:<15} {c['covered']:>3}/{c['R']} = {c['coverage']:.2f} "
              f"[{c['coverage_ci'][0]:.2f}, {c['coverage_ci'][1]:.2f}]  mean width "
              f"{c['mean_width']:.3f}  mean sd {c['mean_sd']:.4f}  (sd of the estimates over "
              f"data sets {c['sd_of_estimates']:.4f}, mean error {c['mean_error']:+.4f})")
    print(f"total {out['wall_s']:.0f} s")
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
