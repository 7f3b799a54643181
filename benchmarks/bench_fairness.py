"""Fairness against ground truth: simulated worlds where every unit's true counterfactual
is known.

* ``features``: a law-school-like world (protected ``A`` in 10% of units, ``S``; a grade
  rounded to 0.1, a Poisson test score, a first-year grade ``FYA``). For a linear and a
  gradient-boosting predictor of ``FYA``: the true counterfactual unfairness (the mean
  absolute change of the prediction when only ``A`` is flipped, each unit keeping its own
  noise, in sd of ``FYA``) and the test R^2 of (a) the predictor on the raw features, (b)
  on CCGM's :class:`~dowhy_ccgm.fairness.FairFeatures`, (c) on the same features computed
  with the TRUE mechanisms (the floor: rounded and count-valued features are abducted
  within their intervals, so even the truth leaves some unfairness), (d) on Kusner et
  al.'s Level 3 features (residuals of a linear model given ``A`` and ``S``).
* ``audit``: DoWhy's counterfactual-fairness protocol (one ``gcm.counterfactual_samples``
  call per unit) against the vectorised audit, 5,000 units, the same fitted model.
* ``paths``: natural direct and indirect effects with two mediators against their closed
  forms over ``--datasets`` simulated data sets: the error in standard errors and the
  coverage of CCGM's refit-bootstrap 95% interval (``--boot`` refits each), beside least
  squares on the true model bootstrapped on the same resamples (what the design allows).
* ``replicates``: how many replicates a 95% percentile or normal interval needs, on the
  same mediation model with its least-squares estimator (no fit, so hundreds of data
  sets): the ground truth of the bootstrap's warning below 50 replicates.

Run::

    PYTHONPATH=. python benchmarks/bench_fairness.py [--parts features,audit,paths] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import networkx as nx
import numpy as np
import pandas as pd
from scipy import stats

from _common import set_torch_threads
from _metrics import write_json

LAW = nx.DiGraph([("A", "GPA"), ("S", "GPA"), ("A", "LSAT"), ("S", "LSAT"), ("A", "FYA"),
                  ("GPA", "FYA"), ("LSAT", "FYA"), ("S", "FYA")])


#: the law world's parameters: the grade's intercept, its noise's sd and its A and S
#: slopes; the count's log-rate intercept and its A and S slopes
LAW_TRUTH = {"g0": 3.0, "gs": 0.4, "ga": -0.5, "gb": 0.1, "l0": 3.2, "la": -0.4, "lb": 0.05}


#: the continuous world's test score: the count's rate plus this sd times a normal noise
LSAT_SD = 5.0


def _gpa(a, s, ug, p=LAW_TRUTH, rounded=True):
    g = p["g0"] + p["gs"] * ug + p["ga"] * a + p["gb"] * s
    return np.round(g, 1) if rounded else g


def _rate(a, s, p=LAW_TRUTH):
    return np.exp(p["l0"] + p["la"] * a + p["lb"] * s)


def law_world(n, seed, a=None, noise=None, share=0.1, continuous=False):
    """The world and its noise (``a`` and ``noise`` given: the same units, another A).
    ``continuous``: the grade not rounded and the test score the count's rate plus a
    normal noise (sd :data:`LSAT_SD`), so that the true mechanisms' fair features are
    exactly invariant (the floor is 0)."""
    rng = np.random.default_rng(seed)
    A = rng.binomial(1, share, n) if a is None else a
    if noise is None:
        noise = {"S": rng.binomial(1, 0.5, n), "ug": rng.normal(size=n),
                 "ul": rng.random(n), "uf": rng.normal(size=n)}
    S = noise["S"]
    gpa = _gpa(A, S, noise["ug"], rounded=not continuous)
    lsat = (_rate(A, S) + LSAT_SD * stats.norm.ppf(noise["ul"]) if continuous else
            stats.poisson.ppf(noise["ul"], _rate(A, S)).astype(np.int64))
    fya = 0.8 * gpa + 0.04 * lsat - 0.3 * A + 0.3 * noise["uf"]
    return pd.DataFrame({"A": A, "S": S, "GPA": gpa, "LSAT": lsat, "FYA": fya}), noise


def true_fair_features(frame, reference, n_draws, seed, p=LAW_TRUTH, continuous=False):
    """The features at ``A = reference`` computed with the mechanisms' true form and the
    parameters ``p`` (default: the truth's): each unit's noise drawn from its posterior
    (the grade's latent within its rounding interval, the count's uniform within its CDF
    interval), averaged over ``n_draws``; in the ``continuous`` world the noise itself."""
    rng = np.random.default_rng(seed)
    a, s = frame.A.to_numpy(), frame.S.to_numpy()
    shift = p["g0"] + p["ga"] * a + p["gb"] * s
    if continuous:
        ug = (frame.GPA.to_numpy() - shift) / p["gs"]
        z = (frame.LSAT.to_numpy() - _rate(a, s, p)) / LSAT_SD
        ref = np.full_like(a, reference)
        return pd.DataFrame({"S": s.astype(float), "GPA": _gpa(ref, s, ug, p, rounded=False),
                             "LSAT": _rate(ref, s, p) + LSAT_SD * z}, index=frame.index)
    lo = (frame.GPA.to_numpy() - 0.05 - shift) / p["gs"]
    hi = (frame.GPA.to_numpy() + 0.05 - shift) / p["gs"]
    k = frame.LSAT.to_numpy()
    c_lo, c_hi = stats.poisson.cdf(k - 1, _rate(a, s, p)), stats.poisson.cdf(k, _rate(a, s, p))
    ref = np.full_like(a, reference)
    gpa = np.zeros(len(frame))
    lsat = np.zeros(len(frame))
    for _ in range(n_draws):
        ug = stats.norm.ppf(stats.norm.cdf(lo) + rng.random(len(frame))
                            * (stats.norm.cdf(hi) - stats.norm.cdf(lo)))
        ul = c_lo + rng.random(len(frame)) * (c_hi - c_lo)
        gpa += _gpa(ref, s, ug, p)
        lsat += stats.poisson.ppf(ul, _rate(ref, s, p))
    return pd.DataFrame({"S": s.astype(float), "GPA": gpa / n_draws, "LSAT": lsat / n_draws},
                        index=frame.index)


def estimated_law(train, continuous=False) -> dict:
    """The law world's parameters estimated on ``train`` with the mechanisms' true form
    (least squares for the rounded grade, its residual sd less the rounding's variance;
    a Poisson regression for the count, nonlinear least squares for the continuous
    world's score's log-linear mean): what a correctly specified model of the same rows
    knows."""
    from sklearn.linear_model import PoissonRegressor
    X = np.c_[np.ones(len(train)), train.A, train.S]
    beta, *_ = np.linalg.lstsq(X, train.GPA.to_numpy(float), rcond=None)
    resid = train.GPA.to_numpy(float) - X @ beta
    sd = float(np.sqrt(max(resid.var(ddof=3) - (0 if continuous else 0.1 ** 2 / 12), 1e-6)))
    if continuous:        # the log-linear mean by least squares (the score can be < 0)
        from scipy.optimize import curve_fit
        a, s = train.A.to_numpy(float), train.S.to_numpy(float)
        (l0, la, lb), _ = curve_fit(lambda x, l0, la, lb: np.exp(l0 + la * x[0] + lb * x[1]),
                                    np.vstack([a, s]), train.LSAT.to_numpy(float),
                                    p0=[np.log(max(train.LSAT.mean(), 1.0)), 0.0, 0.0])
    else:
        pois = PoissonRegressor(alpha=0.0, max_iter=1000).fit(train[["A", "S"]], train.LSAT)
        l0, (la, lb) = pois.intercept_, pois.coef_
    return {"g0": float(beta[0]), "gs": sd, "ga": float(beta[1]), "gb": float(beta[2]),
            "l0": float(l0), "la": float(la), "lb": float(lb)}


def level3(train):
    """Kusner et al.'s Level 3: residuals of each feature given the protected attributes."""
    from sklearn.linear_model import LinearRegression
    lr = LinearRegression().fit(train[["A", "S"]], train[["GPA", "LSAT"]])

    def transform(frame):
        r = frame[["GPA", "LSAT"]] - lr.predict(frame[["A", "S"]])
        return r.assign(S=frame.S.astype(float))
    return transform


def run_features(args) -> dict:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.fairness import FairFeatures
    rows = []
    for world, seed in ((w, sd_) for w in ("rounded", "continuous")
                        for sd_ in range(args.seeds)):
        cont = world == "continuous"
        train, _ = law_world(args.n, seed, continuous=cont)
        test, noise = law_world(2000, 10_000 + seed, continuous=cont)
        flip, _ = law_world(2000, 10_000 + seed, a=1 - test.A.to_numpy(), noise=noise,
                            continuous=cont)
        sd = float(train.FYA.std())
        t = time.perf_counter()
        gen = CCGMGenerator(LAW, random_state=seed, progress_bar=False).fit(train)
        fit_s = time.perf_counter() - t
        ccgm = FairFeatures(gen, "A", reference={"A": 0}, features=["S", "GPA", "LSAT"],
                            n_draws=args.draws, random_state=seed).fit(train)
        l3 = level3(train)
        fitted_law = estimated_law(train, cont)
        transforms = {
            "raw": lambda f: f[["A", "S", "GPA", "LSAT"]].astype(float),
            "ccgm": ccgm.transform,
            "true mechanisms (floor)": lambda f: true_fair_features(
                f, 0, args.draws, seed, continuous=cont),
            "true form, estimated": lambda f: true_fair_features(
                f, 0, args.draws, seed, fitted_law, continuous=cont),
            "Kusner level 3": l3,
        }
        for model_name, make in (("linear", LinearRegression),
                                 ("gradient boosting",
                                  lambda: HistGradientBoostingRegressor(random_state=seed))):
            for name, tf in transforms.items():
                Ztr, Zte, Zfl = tf(train), tf(test), tf(flip)
                m = make().fit(Ztr, train.FYA)
                unfair = float(np.mean(np.abs(m.predict(Zfl) - m.predict(Zte)))) / sd
                rows.append({"world": world, "seed": seed, "predictor": model_name,
                             "features": name,
                             "unfairness_sd": unfair, "r2": float(m.score(Zte, test.FYA)),
                             "fit_s": fit_s if name == "ccgm" else None})
        print(f"features {world} seed {seed}: CCGM fit {fit_s:.1f} s, mechanisms "
              f"{gen.mechanisms_}", file=sys.stderr)
    df = pd.DataFrame(rows)
    table = df.groupby(["world", "predictor", "features"])[["unfairness_sd", "r2"]].agg(
        ["mean", "std"])
    print(table.round(4).to_string(), file=sys.stderr)
    summary = {"continuous": {}}
    for p in ("linear", "gradient boosting"):
        sub = df[(df.predictor == p) & (df.world == "rounded")].groupby(
            "features")["unfairness_sd"].mean()
        summary[p] = {"ccgm_over_floor": float(sub["ccgm"] / sub["true mechanisms (floor)"]),
                      "ccgm_over_estimated_form": float(sub["ccgm"]
                                                        / sub["true form, estimated"]),
                      "ccgm_minus_level3": float(sub["ccgm"] - sub["Kusner level 3"])}
        sub = df[(df.predictor == p) & (df.world == "continuous")].groupby(
            "features")["unfairness_sd"].mean()
        summary["continuous"][p] = {
            "ccgm": float(sub["ccgm"]), "floor": float(sub["true mechanisms (floor)"]),
            "estimated_form": float(sub["true form, estimated"]),
            "ccgm_over_estimated_form": float(sub["ccgm"] / sub["true form, estimated"]),
            "ccgm_minus_level3": float(sub["ccgm"] - sub["Kusner level 3"])}
    print(f"features: {summary}", file=sys.stderr)
    return {"rows": rows, "summary": summary}


# ------------------------------------------------------------------------------ audit
def run_audit(args) -> dict:
    """DoWhy's counterfactual-fairness notebook's protocol on 5,000 units of the law world:
    one ``gcm.counterfactual_samples`` call per unit (timed on ``--loop-rows`` units, per
    unit) against :func:`~dowhy_ccgm.fairness.counterfactual_fairness` on all of them, with
    the same fitted model exported to ``dowhy.gcm`` (the same estimand: their results are
    compared on the looped units). The world's grade is rounded and its test score a
    count, so a unit's counterfactual scores are posterior draws within their cells: the
    two computations draw them independently, and their unit-level differences agree in
    mean (the paired difference of the looped units' means and its standard error), not
    draw by draw."""
    from dowhy import gcm
    from sklearn.linear_model import LinearRegression

    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.fairness import counterfactual_fairness
    gcm.config.disable_progress_bars()
    data, _ = law_world(5000, 0)
    cols = ["A", "S", "GPA", "LSAT"]
    lr = LinearRegression().fit(data[cols], data.FYA)
    gen = CCGMGenerator(LAW, random_state=0, progress_bar=False).fit(data)
    t = time.perf_counter()
    audit = counterfactual_fairness(gen, lr, data, "A", random_state=0)
    audit_s = time.perf_counter() - t
    scm = gen.to_gcm()
    rows = data.index[: args.loop_rows]
    t = time.perf_counter()
    loop = []
    for i in rows:
        cf = gcm.counterfactual_samples(scm, {"A": lambda a: 1 - a},
                                        observed_data=data.loc[[i]])
        loop.append(lr.predict(cf[cols])[0] - lr.predict(data.loc[[i], cols])[0])
    per_unit = (time.perf_counter() - t) / len(rows)
    gap = np.array(loop) - audit.differences.loc[rows, "difference"].to_numpy()
    agree = float(np.max(np.abs(gap)))
    out = {"units": len(data), "audit_s": audit_s, "loop_s_per_unit": per_unit,
           "loop_s_all_units": per_unit * len(data),
           "speedup": per_unit * len(data) / audit_s, "max_difference": agree,
           "loop_mean": float(np.mean(loop)),
           "audit_mean": float(audit.differences.loc[rows, "difference"].mean()),
           "mean_gap": float(gap.mean()),
           "mean_gap_se": float(gap.std(ddof=1) / np.sqrt(len(gap)))}
    print(f"audit: {audit_s:.2f} s for {len(data)} units; per-row loop {per_unit * 1e3:.1f} ms "
          f"per unit ({per_unit * len(data):.0f} s for all): {out['speedup']:.0f}x; mean "
          f"difference {out['loop_mean']:.4f} (loop) vs {out['audit_mean']:.4f} (vectorised), "
          f"gap {out['mean_gap']:.4f} (se {out['mean_gap_se']:.4f}); largest unit gap "
          f"{agree:.2g}", file=sys.stderr)
    return out


# ------------------------------------------------------------------------------ paths
MED = nx.DiGraph([("A", "M1"), ("A", "M2"), ("M1", "M2"), ("A", "Y"), ("M1", "Y"),
                  ("M2", "Y")])
TRUE_EFFECTS = {"direct": 2.0, "indirect": 1.8}


def mediation(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    m1 = a + rng.normal(size=n)
    m2 = 0.5 * m1 - 0.8 * a + rng.normal(size=n)
    y = 2 * a + 1.5 * m1 - m2 + rng.normal(size=n)
    return pd.DataFrame({"A": a, "M1": m1, "M2": m2, "Y": y})


def ols_mediation(data) -> dict:
    """The closed-form estimates of the true (linear) model fitted by least squares: the
    reference a refit bootstrap of the right parametric model reaches on the same
    resamples."""
    a, m1, m2, y = (data[c].to_numpy(float) for c in ("A", "M1", "M2", "Y"))
    one = np.ones_like(a)
    b = np.linalg.lstsq(np.c_[one, a, m1, m2], y, rcond=None)[0]
    c1 = np.linalg.lstsq(np.c_[one, a], m1, rcond=None)[0]
    c2 = np.linalg.lstsq(np.c_[one, a, m1], m2, rcond=None)[0]
    return {"direct": float(b[1]),
            "indirect": float(b[2] * c1[1] + b[3] * (c2[1] + c2[2] * c1[1]))}


class _OLSReference:
    """A bootstrap statistic that ignores the fitted generator: the least-squares estimate
    on the replicate's own resample (so CCGM and the reference share every resample)."""

    def __init__(self, effect):
        self.effect = effect

    def __call__(self, gen, data, random_state):
        return ols_mediation(data)[self.effect]


def _coverage(res, name, truth) -> dict:
    lo, hi = res.interval(name)
    nlo, nhi = res.interval(name, method="normal")
    blo, bhi = res.interval(name, method="basic")
    est = float(res.estimate[name])
    se = float(np.std(res.replicates[name], ddof=1))
    return {"estimate": est, "lo": float(lo), "hi": float(hi), "se": se,
            "covers": bool(lo <= truth <= hi), "error_se": (est - truth) / se,
            "basic": [float(blo), float(bhi)], "basic_covers": bool(blo <= truth <= bhi),
            "normal": [float(nlo), float(nhi)], "normal_covers": bool(nlo <= truth <= nhi)}


def run_paths(args) -> dict:
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.bootstrap import bootstrap
    from dowhy_ccgm.fairness import PathSpecificEffect
    stats_ = {k: PathSpecificEffect("A", "Y", k, n_samples=50_000) for k in TRUE_EFFECTS}
    stats_.update({f"ols {k}": _OLSReference(k) for k in TRUE_EFFECTS})
    rows = []
    for d in range(args.datasets):
        data = mediation(args.paths_n, 20_000 + d)
        t = time.perf_counter()
        res = bootstrap(CCGMGenerator(MED, progress_bar=False), data, stats_,
                        n_bootstrap=args.boot, random_state=d, n_jobs=args.jobs)
        row = {"dataset": d, "wall_s": time.perf_counter() - t}
        for k, truth in TRUE_EFFECTS.items():
            row[k] = _coverage(res, k, truth)
            row[f"ols {k}"] = _coverage(res, f"ols {k}", truth)
        rows.append(row)
        print(f"paths data set {d}: " + ", ".join(
            f"{k} {row[k]['estimate']:.3f} [{row[k]['lo']:.3f}, {row[k]['hi']:.3f}]"
            for k in TRUE_EFFECTS) + f" ({row['wall_s']:.0f} s)", file=sys.stderr)
    n = len(rows)
    band = stats.binom.interval(0.95, n, 0.95)
    summary = {}
    for k in [*TRUE_EFFECTS, *(f"ols {k}" for k in TRUE_EFFECTS)]:
        summary[k] = {
            "coverage": float(np.mean([r[k]["covers"] for r in rows])),
            "basic_coverage": float(np.mean([r[k]["basic_covers"] for r in rows])),
            "normal_coverage": float(np.mean([r[k]["normal_covers"] for r in rows])),
            "mean_abs_error_se": float(np.mean([abs(r[k]["error_se"]) for r in rows])),
            "se_mean": float(np.mean([r[k]["se"] for r in rows])),
            "spread": float(np.std([r[k]["estimate"] for r in rows], ddof=1)),
            "binomial_band": [band[0] / n, band[1] / n]}
    print(f"paths: {summary}", file=sys.stderr)
    return {"rows": rows, "summary": summary}


def run_replicates(args) -> dict:
    """How many replicates a bootstrap interval needs: the least-squares estimates of
    the mediation model (:func:`ols_mediation`, no fit: fast) on ``--replicate-datasets``
    data sets, each bootstrapped with B = 20, 50, 100 and 200 resamples; the coverage of
    the 95% percentile and normal intervals, computed by the library's own
    :meth:`~dowhy_ccgm.bootstrap.BootstrapResult.interval`. The ground truth behind
    ``dowhy_ccgm.bootstrap.MIN_TAIL_REPLICATES``."""
    from dowhy_ccgm.ate import resample_rows
    from dowhy_ccgm.bootstrap import BootstrapResult
    sizes = (20, 50, 100, 200)
    hits = {b: {k: {"percentile": 0, "normal": 0} for k in TRUE_EFFECTS} for b in sizes}
    rng = np.random.default_rng(77)
    n_sets = args.replicate_datasets
    for d in range(n_sets):
        data = mediation(args.paths_n, 500_000 + d)
        est = ols_mediation(data)
        reps = [ols_mediation(data.iloc[resample_rows(rng, len(data), None)])
                for _ in range(max(sizes))]
        for b in sizes:
            res = BootstrapResult(est, pd.DataFrame(reps[:b]), tuple(range(b)), 0.95)
            with warnings.catch_warnings():       # (below 50 replicates it warns: measured)
                warnings.simplefilter("ignore", RuntimeWarning)
                for k, truth in TRUE_EFFECTS.items():
                    for method in ("percentile", "normal"):
                        lo, hi = res.interval(k, method=method)
                        hits[b][k][method] += bool(lo <= truth <= hi)
    band = stats.binom.interval(0.95, n_sets, 0.95)
    out = {"datasets": n_sets, "rows": args.paths_n,
           "binomial_band": [band[0] / n_sets, band[1] / n_sets],
           "coverage": {str(b): {k: {m: c / n_sets for m, c in v.items()}
                                 for k, v in hits[b].items()} for b in sizes}}
    print(f"replicates: {out['coverage']}", file=sys.stderr)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="features,audit,paths,replicates")
    p.add_argument("--loop-rows", type=int, default=300,
                   help="units of the per-row loop that are timed (the audit takes all)")
    p.add_argument("--n", type=int, default=4000, help="training rows of the law world")
    p.add_argument("--seeds", type=int, default=10,
                   help="data sets of the features part (each world)")
    p.add_argument("--draws", type=int, default=1,
                   help="abductions averaged per unit (more leaks the group, see FairFeatures)")
    p.add_argument("--datasets", type=int, default=40)
    p.add_argument("--paths-n", type=int, default=1000)
    p.add_argument("--boot", type=int, default=50)
    p.add_argument("--replicate-datasets", type=int, default=400,
                   help="data sets of the replicates part (least squares, no fit)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--update", action="store_true",
                   help="keep the parts of an existing --json file that this run does not "
                        "compute")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    set_torch_threads(1)
    out = {"args": vars(args)}
    for part in args.parts.split(","):
        t = time.perf_counter()
        out[part] = {"features": run_features, "paths": run_paths, "audit": run_audit,
                     "replicates": run_replicates}[part](args)
        out[part]["wall_s"] = time.perf_counter() - t
    if args.update and args.json and os.path.exists(args.json):
        with open(args.json) as fh:
            kept = json.load(fh)
        out = {**{k: v for k, v in kept.items() if k not in out}, **out,
               "args": {**kept.get("args", {}), **vars(args)}}
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
