"""How often does DoWhy's own model-inclusive interval cover the truth?

``gcm.confidence_intervals(gcm.fit_and_compute(...))`` refits an SCM on subsets of the
data, by default 75% of the rows drawn WITHOUT replacement, 20 times. A subset of 75%
without replacement varies much less than a sample of the full size would: a mean over it
has variance ``(1 - 0.75) / 0.75 = 1/3`` of the full-sample mean's, so the interval is
about ``sqrt(1/3) = 0.58`` as wide as the estimator's real spread. This measures the
consequence on ground truth, with mechanisms that are correctly specified (so only the
interval procedure is tested): ``x ~ N(0, 1)``, ``t ~ Bernoulli(expit(1.5 x))``,
``y = 0.4 t + x + 0.5 e``; a linear additive-noise model for ``y``, a logistic classifier
for ``t``, the empirical distribution for ``x``; the ATE ``E[y | do(t=1)] - E[y | do(t=0)]``
by ``gcm.average_causal_effect``. For each of R data sets: DoWhy's default interval
(fraction 0.75, 20 resamples); the same procedure with a full-size bootstrap (rows drawn
WITH replacement, as ``dowhy_ccgm.bootstrap`` does); and the 2.5% / 97.5% percentiles
of those same full-size replicates. DoWhy's ``confidence_intervals`` (0.14) takes the
``100 (1 - level)`` and ``100 level`` percentiles, i.e. the 5% and 95% ones for
``confidence_level=0.95``: a 90% interval (``_estimate_percentile_bounds`` in
``dowhy/gcm/confidence_intervals.py``; the same slip was reported for DoWhy's
``CausalEstimator`` as py-why/dowhy#1063).

Run::

    PYTHONPATH=. python benchmarks/bench_dowhy_intervals.py [--R 100] [--json out.json]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from _metrics import write_json

TRUE_ATE = 0.4


def simulate(n, rng):
    import pandas as pd
    x = rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype(int)
    y = TRUE_ATE * t + x + 0.5 * rng.normal(size=n)
    # DoWhy's classifier mechanisms need string categories; y's model reads t as a number
    return pd.DataFrame({"x": x, "t": t.astype(str), "y": y})


def scm():
    import networkx as nx
    from dowhy import gcm
    m = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("x", "t"), ("x", "y"), ("t", "y")]))
    m.set_causal_mechanism("x", gcm.EmpiricalDistribution())
    m.set_causal_mechanism("t", gcm.ClassifierFCM(gcm.ml.create_logistic_regression_classifier()))
    m.set_causal_mechanism("y", gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor()))
    return m


def ace(model, n_draws):
    from dowhy import gcm
    return gcm.average_causal_effect(model, "y", interventions_alternative={"t": lambda v: "1"},
                                     interventions_reference={"t": lambda v: "0"},
                                     num_samples_to_draw=n_draws)


def full_bootstrap(model, data, n_draws, rng):
    """``fit_and_compute``'s snapshot with a resample of the full size, with replacement."""
    from dowhy import gcm

    values = []

    def snapshot():
        m = model.clone()
        gcm.fit(m, data.iloc[rng.integers(0, len(data), len(data))].reset_index(drop=True))
        values.append(ace(m, n_draws))
        return values[-1]
    snapshot.values = values
    return snapshot


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--R", type=int, default=100)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--B", type=int, default=20, help="resamples (DoWhy's default 20)")
    p.add_argument("--draws", type=int, default=10_000)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed
    gcm.config.disable_progress_bars()
    t0 = time.perf_counter()
    recs = []
    for r in range(args.R):
        rng = np.random.default_rng([7, r])
        data = simulate(args.n, rng)
        set_random_seed(r)
        _, interval = gcm.confidence_intervals(
            gcm.fit_and_compute(ace, scm(), data, n_draws=args.draws),
            num_bootstrap_resamples=args.B)
        lo, hi = np.ravel(interval)
        set_random_seed(r)
        snap = full_bootstrap(scm(), data, args.draws, np.random.default_rng([8, r]))
        _, interval = gcm.confidence_intervals(snap, num_bootstrap_resamples=args.B)
        flo, fhi = np.ravel(interval)
        plo, phi = np.quantile(snap.values, [0.025, 0.975])
        m = scm()
        gcm.fit(m, data)
        recs.append({"estimate": float(ace(m, args.draws)),
                     "dowhy_default": [float(lo), float(hi)],
                     "full_bootstrap": [float(flo), float(fhi)],
                     "full_bootstrap_95": [float(plo), float(phi)]})
    est = np.array([x["estimate"] for x in recs])
    out = {"settings": vars(args), "true_ate": TRUE_ATE, "records": recs,
           "sd_of_estimates": float(est.std(ddof=1)), "wall_s": time.perf_counter() - t0}
    from bench_bootstrap import binomial_band, clopper_pearson
    out["binomial_band"] = binomial_band(args.R)
    print(f"R = {args.R} data sets of n = {args.n}; sd of the estimate over data sets "
          f"{out['sd_of_estimates']:.4f}; calibrated band {out['binomial_band']}")
    for key in ("dowhy_default", "full_bootstrap", "full_bootstrap_95"):
        k = sum(a <= TRUE_ATE <= b for a, b in (x[key] for x in recs))
        width = float(np.mean([b - a for a, b in (x[key] for x in recs)]))
        out[key] = {"covered": k, "coverage": k / args.R,
                    "coverage_ci": clopper_pearson(k, args.R), "mean_width": width}
        print(f"  {key:<15} covers {k}/{args.R} = {k / args.R:.2f} "
              f"{tuple(round(v, 2) for v in out[key]['coverage_ci'])}, mean width {width:.3f}")
    print(f"total {out['wall_s']:.0f} s")
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
