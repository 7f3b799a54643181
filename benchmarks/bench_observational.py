"""A simulated observational study: 8 correlated confounders (one zero-inflated), 2% treated, a
zero-inflated outcome, known ATE and ATT (:func:`dowhy_ccgm.datasets.simulate_observational`).

For each seed a data set of ``--n`` rows is drawn and one CCGM is fitted on the graph
"every confounder into D and into Y, D -> Y" (x6 binary, x7 categorical, D binary; the
confounders' joint law from the empirical root block). Reported per seed and as the mean
over seeds:

* de-biased ATE: every edge into D removed (``how="marginal"``), the naive difference of
  ``--population`` generated rows; the model's g-formula ``E[Y|do(D=1)] - E[Y|do(D=0)]``;
* counterfactual ATT: the mean of ``Y_i(1) - Y_i(0)`` over the data's treated units, from
  their own exact counterfactuals (:func:`dowhy_ccgm.effects.effect_on_treated`);
* the generated share of treated units and of zeros in x8 and Y, against the data's;
* the generated confounders' correlation matrix error: the largest absolute difference from
  the data's correlation matrix (x7 by its codes);
* baselines in the same run: AIPW (logistic/linear, all eight confounders) for the ATE, and
  EconML's causal forest for the ATE and the ATT (the mean CATE of the treated);
* every error also against the data set's own sample ATE and ATT (the true SCM's unit
  effects averaged over its units or its treated units), which removes the data set's own
  sampling deviation from the comparison.

Two floors, each the spread over ``--floor-reps`` data sets of the same size:

* the *sample* floor, the true SCM's own values: for the ATE, the naive difference of a
  randomized sample of ``n`` rows (what a perfect generator's de-biased data set of that
  size gives); for the ATT, the sample ATT (the treated units' own ``Y_i(1) - Y_i(0)``);
* the *efficiency* floor: the oracle estimates (:func:`dowhy_ccgm.datasets.oracle_estimates`,
  the efficient influence functions with the *true* propensity and outcome regressions),
  whose spread is the semiparametric efficiency bound at ``n`` rows: what no estimator that
  learns from the data beats. For the ATT it is far above the sample floor: the sample ATT
  needs the treated units' unobserved ``Y(0)``, which only the true outcome mechanism
  gives.

Every estimate is also compared with the oracle estimate *of the same data set*
(``|estimate - oracle|``): the part of the error that is the estimator's own, not the
data set's. The project's targets: mean |error| over the seeds within the floor, correlation
matrix error at most 0.05.

Run::

    PYTHONPATH=. python benchmarks/bench_observational.py [--seeds 0,1,2,3,4] [--json PATH]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

from _common import set_torch_threads, star_graph
from _metrics import corr_error, write_json


def fit(data, seed):
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.datasets import OBS_CONFOUNDERS
    gen = CCGMGenerator(star_graph(OBS_CONFOUNDERS, "D", "Y"), column_types={"x6": "binary", "x7": "categorical", "D": "binary"},
                        random_state=seed, progress_bar=False)
    return gen.fit(data)


def ccgm_row(gen, data, population, seed):
    from dowhy_ccgm.ate import naive_ate
    from dowhy_ccgm.datasets import OBS_CONFOUNDERS
    from dowhy_ccgm.effects import average_effect, effect_on_treated
    cut = gen
    for k, c in enumerate(OBS_CONFOUNDERS):
        cut = cut.remove_edge(c, "D", how="marginal", random_state=seed + k)
    s_cut = cut.sample(population, random_state=seed + 100)
    s = gen.sample(population, random_state=seed + 200)
    corr_err = corr_error(s, data, OBS_CONFOUNDERS)
    return {
        "debiased_ate": naive_ate(s_cut, "D", "Y"),
        "gformula_ate": average_effect(gen, "D", "Y", n_samples=population,
                                       random_state=seed + 300),
        "att": effect_on_treated(gen, data, "D", "Y", random_state=seed + 400),
        "corr_error": corr_err,
        "treated_share": (float(s["D"].mean()), float(data["D"].mean())),
        "zeros_x8": (float((s["x8"] == 0).mean()), float((data["x8"] == 0).mean())),
        "zeros_y": (float((s["Y"] == 0).mean()), float((data["Y"] == 0).mean())),
        "min_x8": float(s["x8"].min()), "min_y": float(s["Y"].min()),
    }


def baselines(data, seed):
    from dowhy_ccgm.ate import aipw_ate
    from dowhy_ccgm.datasets import OBS_CONFOUNDERS
    from econml.dml import CausalForestDML
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    frame = data.assign(x7=data["x7"].astype("category"))
    out = {"aipw_ate": aipw_ate(frame, "D", "Y", OBS_CONFOUNDERS, random_state=seed)}
    X = pd.get_dummies(frame[OBS_CONFOUNDERS], columns=["x7"], drop_first=True).to_numpy(float)
    forest = CausalForestDML(model_y=HistGradientBoostingRegressor(random_state=seed),
                             model_t=HistGradientBoostingClassifier(random_state=seed),
                             discrete_treatment=True, n_estimators=200, cv=3,
                             random_state=seed)
    forest.fit(data["Y"].to_numpy(), data["D"].to_numpy(), X=X)
    out["forest_ate"] = float(np.ravel(forest.ate_)[0])
    # the mean CATE over the treated (EconML's att_() is a doubly robust score that is
    # unstable with 2% treated: -2.0 against a true 1.2 on seed 0)
    out["forest_att"] = float(forest.effect(X[data["D"].to_numpy() == 1]).mean())
    return out


def floors(n, share, reps):
    from dowhy_ccgm.datasets import observational_truth, oracle_estimates, simulate_observational
    ate, att, ate_eff, att_eff = [], [], [], []
    for r in range(reps):
        d, _, _ = simulate_observational(n, treated_share=share, random_state=10_000 + r,
                                         randomized=True, return_effects=True)
        ate.append(d.loc[d.D == 1, "Y"].mean() - d.loc[d.D == 0, "Y"].mean())
        d, _, e = simulate_observational(n, treated_share=share, random_state=20_000 + r,
                                         return_effects=True)
        att.append(e[d["D"].to_numpy() == 1].mean())
        oracle = oracle_estimates(d, share)
        ate_eff.append(oracle["ate"])
        att_eff.append(oracle["att"])
    truth = observational_truth(share)
    out = {}
    for key, values, target in (("ate", ate, "ate"), ("att", att, "att"),
                                ("ate_eff", ate_eff, "ate"), ("att_eff", att_eff, "att")):
        out[key + "_sd"] = float(np.std(values, ddof=1))
        out[key + "_mean_abs"] = float(np.mean(np.abs(np.array(values) - truth[target])))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--share", type=float, default=0.02)
    p.add_argument("--population", type=int, default=200_000)
    p.add_argument("--floor-reps", type=int, default=200)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    set_torch_threads(1)
    from dowhy_ccgm.datasets import oracle_estimates, simulate_observational
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for seed in seeds:
        data, truth, effects = simulate_observational(args.n, treated_share=args.share,
                                                      random_state=seed, return_effects=True)
        oracle = oracle_estimates(data, args.share)
        t = time.perf_counter()
        gen = fit(data, seed)
        row = {"seed": seed, "fit_s": time.perf_counter() - t,
               # the true SCM on this very data set: its units' own effects
               "sample_ate": float(effects.mean()),
               "sample_att": float(effects[data["D"].to_numpy() == 1].mean()),
               # the efficient estimates with the true nuisances, on this very data set
               "oracle_ate": oracle["ate"], "oracle_att": oracle["att"],
               "passes": float(gen.history_["epochs"]), **ccgm_row(gen, data, args.population,
                                                                   seed)}
        if not args.no_baselines:
            row.update(baselines(data, seed))
        rows.append(row)
        print(f"seed {seed}: fit {row['fit_s']:.1f} s; de-biased ATE {row['debiased_ate']:.3f}, "
              f"g-formula {row['gformula_ate']:.3f} (true {truth['ate']:.3f}); ATT "
              f"{row['att']:.3f} (true {truth['att']:.3f}); corr error {row['corr_error']:.3f}; "
              f"treated {row['treated_share'][0]:.4f} vs {row['treated_share'][1]:.4f}; "
              f"zeros x8 {row['zeros_x8'][0]:.3f} vs {row['zeros_x8'][1]:.3f}, "
              f"Y {row['zeros_y'][0]:.3f} vs {row['zeros_y'][1]:.3f}"
              + ("" if args.no_baselines else
                 f"; AIPW {row['aipw_ate']:.3f}, forest ATE {row['forest_ate']:.3f} "
                 f"ATT {row['forest_att']:.3f}"), file=sys.stderr)
    fl = floors(args.n, args.share, args.floor_reps)
    summary = {"truth": truth, "floor": fl}
    estimates = (("debiased_ate", "ate"), ("gformula_ate", "ate"), ("att", "att"),
                 ("aipw_ate", "ate"), ("forest_ate", "ate"), ("forest_att", "att"),
                 ("oracle_ate", "ate"), ("oracle_att", "att"))
    for key, target in estimates:
        if key in rows[0]:
            errs = np.array([r[key] for r in rows]) - truth[target]
            summary[key] = {"mean": float(np.mean([r[key] for r in rows])),
                            "mean_abs_error": float(np.mean(np.abs(errs))),
                            "mean_error": float(errs.mean()),
                            # against the oracle estimate of the same data set
                            "mean_abs_error_vs_oracle": float(np.mean(
                                [abs(r[key] - r["oracle_" + target]) for r in rows]))}
    summary["corr_error_max"] = max(r["corr_error"] for r in rows)
    # against each data set's own sample ATE / ATT (the part of the error that is the
    # estimator's, not the data set's)
    for key, target in estimates:
        if key in rows[0]:
            summary[key]["mean_abs_error_vs_sample"] = float(
                np.mean([abs(r[key] - r["sample_" + target]) for r in rows]))
    summary["sample_ate_mean"] = float(np.mean([r["sample_ate"] for r in rows]))
    summary["sample_att_mean"] = float(np.mean([r["sample_att"] for r in rows]))
    print(f"\ntruth: ATE {truth['ate']:.3f}, ATT {truth['att']:.3f}; floors at n = "
          f"{args.n} (sd over {args.floor_reps} data sets): sample ATE {fl['ate_sd']:.3f}, ATT "
          f"{fl['att_sd']:.3f}; efficiency (oracle) ATE {fl['ate_eff_sd']:.3f}, ATT "
          f"{fl['att_eff_sd']:.3f}")
    print(f"the data sets' own sample ATE / ATT (true unit effects), mean over the seeds: "
          f"{summary['sample_ate_mean']:.3f} / {summary['sample_att_mean']:.3f}")
    print(f"{'estimate':<16}{'mean':>7}{'mean |err|':>11}{'/ sample fl.':>13}"
          f"{'/ effic. fl.':>13}{'|err| vs sample':>16}{'|est - oracle|':>15}")
    for key, target in estimates:
        if key in summary:
            s = summary[key]
            print(f"{key:<16}{s['mean']:>7.3f}{s['mean_abs_error']:>11.3f}"
                  f"{s['mean_abs_error'] / fl[target + '_sd']:>13.2f}"
                  f"{s['mean_abs_error'] / fl[target + '_eff_sd']:>13.2f}"
                  f"{s['mean_abs_error_vs_sample']:>16.3f}"
                  f"{s['mean_abs_error_vs_oracle']:>15.3f}")
    for floor, suffix in (("sample", ""), ("efficiency", "_eff")):
        for key, target in (("debiased_ate", "ate"), ("att", "att")):
            err, sd = summary[key]["mean_abs_error"], fl[target + suffix + "_sd"]
            summary[f"{key}_within_{floor}_floor"] = bool(err <= sd)
            print(f"[{'PASS' if err <= sd else 'MISS'}] CCGM {key}: mean |error| over "
                  f"{len(rows)} seeds {err:.3f} <= the {floor} floor's sd {sd:.3f}")
    print(f"[{'PASS' if summary['corr_error_max'] <= 0.05 else 'MISS'}] generated correlation "
          f"matrix error at most 0.05: worst seed {summary['corr_error_max']:.3f}")
    write_json(args.json, {"args": vars(args), "rows": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
