"""``ccgm mindset --covariates all``: the Learning Mindsets data with all ten covariates.

The paper (and ``ccgm mindset``) adjusts for two of the data's ten covariates. This
command fits one CCGM on all of them and compares its effects with the standard
estimators adjusted for the same ten covariates.

Model (``fit_full_model``)
    Nodes: the ten covariates (:data:`COVARIATES_ALL`), the treatment D
    (``intervention``, binary) and the outcome Y (``achievement_score``). Edges: every
    covariate into D and into Y, and D -> Y; no edge among the covariates, whose causal
    order nobody knows. Their joint law (students of one school share the five
    school-level columns) is kept by the empirical root block
    (``root_sampling="empirical"``, the default). Declared types: ``success_expect``,
    ``ethnicity`` and ``school_urbanicity`` categorical, ``gender`` and
    ``frst_in_family`` binary, the five school-level columns continuous.
CCGM rows
    ``de-bias D (marginal)``: every edge into D removed (D's mechanism fed independent
    draws of its parents), the naive difference of means of ``n_population`` generated
    rows; ``E[Y|do(D=1)] - E[Y|do(D=0)]`` (the model's g-formula); ``ATT (counterfactual)``:
    the mean of ``Y_i(1) - Y_i(0)`` over the treated students, from their own exact
    counterfactuals (:func:`dowhy_ccgm.effects.effect_on_treated`).
Baselines (all ten covariates, categoricals one-hot)
    Naive, IPW (DoWhy) and AIPW (EconML ``LinearDRLearner``, logistic/linear nuisances)
    with ``n_bootstrap`` iid resamples (:func:`dowhy_ccgm.ate.bootstrap_ate`); EconML's
    DR learner with gradient-boosting nuisances (``LinearDRLearner`` with ``X=None``: the
    cross-fitted AIPW ATE, normal interval) and EconML's ``CausalForestDML`` (ATE and ATT,
    with their intervals).

The data's terms allow evaluating treatment-effect methods with it but not publishing
analyses of its covariates' joint distribution, so only effects and fit quality are
reported.
"""
from __future__ import annotations

import os
import time

import networkx as nx
import numpy as np
import pandas as pd

from ._mindset_base import (REAL_DATA_ESTIMATORS, D, SE, SM, Y, experiment_progress, named_seeds,
                            grouped_lines, real_data_bootstraps, run_data)

#: The data's ten covariates (``schoolid`` is the cluster, not a covariate).
COVARIATES_ALL = [SE, "ethnicity", "gender", "frst_in_family", "school_urbanicity", SM,
                  "school_achievement", "school_ethnic_minority", "school_poverty",
                  "school_size"]
#: Declared column types of the full model (the rest are continuous).
COLUMN_TYPES = {D: "binary", SE: "categorical", "ethnicity": "categorical",
                "school_urbanicity": "categorical", "gender": "binary",
                "frst_in_family": "binary"}
DEFAULT_OUT = "results/mindset_all"
SETTINGS = {"full": {"epochs": 200, "n_population": 200_000, "forest_trees": 400},
            "quick": {"epochs": 10, "n_population": 20_000, "forest_trees": 40,
                      "n_bootstrap": 10}}
_COLUMNS = ["method", "estimand", "source", "estimate", "q025", "q975", "sd"]


def full_graph(covariates=COVARIATES_ALL) -> nx.DiGraph:
    """Every covariate into D and into Y, and D -> Y."""
    covariates = list(covariates)
    return nx.DiGraph([(c, D) for c in covariates] + [(c, Y) for c in covariates] + [(D, Y)])


def model_frame(data: pd.DataFrame, covariates=COVARIATES_ALL) -> pd.DataFrame:
    """The model's columns of ``data`` (a copy; D as int64)."""
    missing = [c for c in list(covariates) + [D, Y] if c not in getattr(data, "columns", [])]
    if missing:
        raise ValueError(f"the data lacks the columns {missing} of the full mindset model")
    frame = data[list(covariates) + [D, Y]].copy()
    frame[D] = frame[D].astype(np.int64)
    return frame


def fit_full_model(data: pd.DataFrame, *, epochs=200, random_state=0, progress_bar=None,
                   covariates=COVARIATES_ALL):
    """The CCGM of all ten covariates (:func:`full_graph`, :data:`COLUMN_TYPES`)."""
    from .. import CCGMGenerator
    types = {k: v for k, v in COLUMN_TYPES.items() if k in set(covariates) | {D}}
    gen = CCGMGenerator(full_graph(covariates), column_types=types, epochs=epochs,
                        random_state=random_state, progress_bar=progress_bar)
    return gen.fit(model_frame(data, covariates))


def debias_all(gen, covariates=COVARIATES_ALL, how="marginal", random_state=0):
    """``gen`` with every edge into D removed (no retraining)."""
    seeds = named_seeds(random_state, list(covariates))
    out = gen
    for c in covariates:
        out = out.remove_edge(c, D, how=how, random_state=seeds[c])
    return out


def ccgm_effects(gen, data, *, n_population=200_000, random_state=0,
                 covariates=COVARIATES_ALL) -> dict:
    """The model's de-biased naive ATE, g-formula ATE and counterfactual ATT."""
    from ..ate import naive_ate
    from ..effects import average_effect, effect_on_treated
    seeds = named_seeds(random_state, ["cut", "sample", "do", "att"])
    cut = debias_all(gen, covariates, random_state=seeds["cut"])
    return {
        "de-biased": naive_ate(cut.sample(n_population, random_state=seeds["sample"]), D, Y),
        "g-formula": average_effect(gen, D, Y, n_samples=n_population,
                                    random_state=seeds["do"]),
        "ATT": effect_on_treated(gen, model_frame(data, covariates), D, Y,
                                 random_state=seeds["att"]),
    }


def _econml_design(data, covariates):
    """Outcome, treatment and the one-hot covariate matrix (as the AIPW baseline)."""
    from ..ate import encode_controls
    y = data[Y].to_numpy(dtype=np.float64)
    t = data[D].to_numpy().astype(np.int64)
    return y, t, encode_controls(data, list(covariates))


def econml_effects(data, *, random_state=0, forest_trees=400,
                   covariates=COVARIATES_ALL) -> list:
    """EconML's DR learner with gradient-boosting nuisances (ATE) and ``CausalForestDML``
    (ATE and ATT): rows ``{method, estimand, estimate, q025, q975}`` (95% intervals)."""
    from econml.dml import CausalForestDML
    from econml.dr import LinearDRLearner
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    seeds = named_seeds(random_state, ["dr", "forest"])
    y, t, W = _econml_design(data, covariates)
    dr = LinearDRLearner(model_propensity=HistGradientBoostingClassifier(
                             max_iter=100, random_state=seeds["dr"]),
                         model_regression=HistGradientBoostingRegressor(
                             max_iter=100, random_state=seeds["dr"]),
                         cv=3, random_state=seeds["dr"])
    dr.fit(y, t, X=None, W=W)
    lo, hi = (float(np.ravel(v)[0]) for v in dr.ate_interval(alpha=0.05))
    rows = [{"method": "EconML DR learner (GBM)", "estimand": "ATE",
             "estimate": float(np.ravel(dr.ate())[0]), "q025": lo, "q975": hi}]
    forest = CausalForestDML(model_y=HistGradientBoostingRegressor(
                                 max_iter=100, random_state=seeds["forest"]),
                             model_t=HistGradientBoostingClassifier(
                                 max_iter=100, random_state=seeds["forest"]),
                             discrete_treatment=True, n_estimators=int(forest_trees), cv=3,
                             random_state=seeds["forest"])
    forest.fit(y, t, X=W)
    inf = forest.ate__inference()                   # the forest's doubly robust ATE
    lo, hi = (float(np.ravel(v)[0]) for v in inf.conf_int(alpha=0.05))
    rows.append({"method": "EconML causal forest", "estimand": "ATE",
                 "estimate": float(np.ravel(inf.point_estimate)[0]), "q025": lo, "q975": hi})
    # ATT: the forest's CATE averaged over the treated units (its att_() is a doubly robust
    # score that is unstable for a rare treatment: -2.0 against a true 1.2 in
    # bench_observational.py)
    pop = forest.effect_inference(W[t == 1]).population_summary(alpha=0.05)
    lo, hi = (float(np.ravel(v)[0]) for v in pop.conf_int_mean())
    rows.append({"method": "EconML causal forest", "estimand": "ATT",
                 "estimate": float(np.ravel(pop.mean_point)[0]), "q025": lo, "q975": hi})
    return rows


def full_table(data=None, *, n_bootstrap=100, quick=False, random_state=0, progress_bar=None,
               n_jobs=1, refit_bootstrap=0, refit_cluster=None):
    """The effect table of the all-covariate model and the all-covariate baselines.

    Returns ``(table, artefacts)``: ``table`` has one row per method and estimand
    (:data:`_COLUMNS`); the CCGM rows' interval is the refit bootstrap's when
    ``refit_bootstrap`` >= 2, otherwise empty (a point estimate). ``artefacts`` holds the
    fitted model, the settings and the timings.
    """
    from ..ate import estimate_ate
    t_start = time.perf_counter()
    data = run_data(data, refit_bootstrap, refit_cluster)
    cfg = SETTINGS["quick" if quick else "full"]
    if quick:
        n_bootstrap = min(int(n_bootstrap), cfg["n_bootstrap"])
    show = experiment_progress(progress_bar)
    seeds = named_seeds(random_state, ["fit", "effects", "boot", "econml", "refit"])
    timings = {}

    t = time.perf_counter()
    gen = fit_full_model(data, epochs=cfg["epochs"], random_state=seeds["fit"],
                         progress_bar=show)
    timings["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    eff = ccgm_effects(gen, data, n_population=cfg["n_population"],
                       random_state=seeds["effects"])
    timings["effects"] = time.perf_counter() - t
    rows = [{"method": "CCGM: de-bias D (marginal)", "estimand": "ATE",
             "estimate": eff["de-biased"]},
            {"method": "CCGM: E[Y|do(D=1)] - E[Y|do(D=0)]", "estimand": "ATE",
             "estimate": eff["g-formula"]},
            {"method": "CCGM: counterfactuals of the treated", "estimand": "ATT",
             "estimate": eff["ATT"]}]
    for row in rows:
        row["source"] = "CCGM, all covariates"
    refit = None
    if refit_bootstrap:
        from ..bootstrap import DoATE, EffectOnTreated, NaiveATE, bootstrap
        t = time.perf_counter()
        cut = [(c, D, "marginal") for c in COVARIATES_ALL]
        stats = {rows[0]["method"]: NaiveATE(D, Y, remove_edges=cut,
                                             n_samples=cfg["n_population"]),
                 rows[1]["method"]: DoATE(D, Y, n_samples=cfg["n_population"]),
                 rows[2]["method"]: EffectOnTreated(D, Y)}
        frame = model_frame(data)
        if refit_cluster is not None:
            frame[refit_cluster] = data[refit_cluster].to_numpy()
        refit = bootstrap(gen, frame, stats, n_bootstrap=int(refit_bootstrap),
                          cluster=refit_cluster, random_state=seeds["refit"], n_jobs=n_jobs,
                          progress_bar=show)
        summary = refit.summary()
        for row in rows:
            r = summary.loc[row["method"]]
            row.update(q025=r["low"], q975=r["high"], sd=r["sd"])
        timings["refit bootstrap"] = time.perf_counter() - t

    t = time.perf_counter()
    real = real_data_bootstraps(data, COVARIATES_ALL, n_bootstrap=n_bootstrap,
                                random_state=seeds["boot"], n_jobs=n_jobs, show=show)
    for (name, key), boot in zip(REAL_DATA_ESTIMATORS, real.values()):
        kw = {"random_state": seeds["boot"]} if key == "aipw" else {}
        rows.append({"method": name, "estimand": "ATE", "source": "real data, all covariates",
                     "estimate": estimate_ate(data, key, D, Y, COVARIATES_ALL, **kw),
                     "q025": boot["q025"], "q975": boot["q975"], "sd": boot["sd"]})
    timings["bootstrap"] = time.perf_counter() - t
    t = time.perf_counter()
    for row in econml_effects(data, random_state=seeds["econml"],
                              forest_trees=cfg["forest_trees"]):
        rows.append({**row, "source": "real data, all covariates"})
    timings["econml"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start
    table = pd.DataFrame(rows, columns=_COLUMNS)
    artefacts = {"model": gen, "refit": refit, "timings": timings,
                 "settings": {"quick": bool(quick), "n_bootstrap": int(n_bootstrap),
                              "refit_bootstrap": int(refit_bootstrap),
                              "refit_cluster": refit_cluster, "random_state": random_state,
                              "epochs_trained": float(gen.history_["epochs"]),
                              **{k: v for k, v in cfg.items() if k != "n_bootstrap"}}}
    return table, artefacts


def aipw_interval(table: pd.DataFrame) -> tuple:
    """The all-covariate AIPW row's 95% bootstrap interval."""
    r = table[(table["method"] == "AIPW")].iloc[0]
    return float(r["q025"]), float(r["q975"])


def format_full_table(table: pd.DataFrame) -> str:
    def f(v):
        return "" if pd.isna(v) else f"{v:.3f}"
    head = f"{'method':<38} {'estimand':<8} {'estimate':>8} {'q025':>7} {'q975':>7}"
    return "\n".join(grouped_lines(table, head, lambda r: (
        f"{r.method:<38} {r.estimand:<8} {f(r.estimate):>8} {f(r.q025):>7} {f(r.q975):>7}")))


def plot_effects(table: pd.DataFrame, path) -> str:
    """Every row's estimate and 95% interval, the all-covariate AIPW interval shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(table) + 1.2))
    lo, hi = aipw_interval(table)
    ax.axvspan(lo, hi, color="0.9", label="AIPW 95% interval (all covariates)")
    labels = []
    for k, r in enumerate(table.itertuples(index=False)):
        y = len(table) - 1 - k
        colour = "C0" if r.source.startswith("CCGM") else "C1"
        marker = "s" if r.estimand == "ATT" else "o"
        if not pd.isna(r.q025):
            ax.plot([r.q025, r.q975], [y, y], color=colour, lw=2)
        ax.plot([r.estimate], [y], marker, color=colour, ms=7)
        labels.append(f"{r.method} ({r.estimand})")
    ax.set_yticks(range(len(table)))
    ax.set_yticklabels(labels[::-1], fontsize=8)
    ax.set_xlabel("effect of the intervention on achievement (standardized)")
    ax.set_title("Learning Mindsets, all ten covariates (circles ATE, squares ATT)",
                 fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def run(args) -> int:
    from ._args import output_paths, resolve_n_jobs, write_json
    table, art = full_table(n_bootstrap=args.n_bootstrap, quick=args.quick,
                            random_state=args.seed,
                            progress_bar=None if getattr(args, "progress", True) else False,
                            n_jobs=resolve_n_jobs(getattr(args, "n_jobs", 1)),
                            refit_bootstrap=getattr(args, "refit_bootstrap", 0),
                            refit_cluster=getattr(args, "refit_cluster", None))
    s = art["settings"]
    print(f"Learning Mindsets, all ten covariates; seed {args.seed}"
          f"{'; QUICK settings' if args.quick else ''}. Real-data intervals: "
          f"{s['n_bootstrap']} bootstrap resamples (naive, IPW, AIPW) or EconML's own; CCGM: "
          + (f"{s['refit_bootstrap']} refits" if s["refit_bootstrap"] else
             "point estimates (--refit-bootstrap B for intervals)"))
    print(format_full_table(table))
    lo, hi = aipw_interval(table)
    de = float(table.loc[table["method"] == "CCGM: de-bias D (marginal)", "estimate"].iloc[0])
    print(f"\nde-biased ATE {de:.3f} {'inside' if lo <= de <= hi else 'OUTSIDE'} the "
          f"all-covariate AIPW interval [{lo:.3f}, {hi:.3f}]; CCGM fit "
          f"{s['epochs_trained']:.0f} passes")
    print("timings (s): " + ", ".join(f"{k} {t:.1f}" for k, t in art["timings"].items()))
    out, json_path = output_paths(args, DEFAULT_OUT, "table.json")
    write_json(json_path, {"rows": table.to_dict(orient="records"), "settings": s,
                           "timings": art["timings"]})
    print(f"wrote {json_path}")
    figures = args.figures or out
    os.makedirs(figures, exist_ok=True)
    print(f"wrote {plot_effects(table, os.path.join(figures, 'effects.png'))}")
    return 0
