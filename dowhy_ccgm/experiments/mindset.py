"""``ccgm mindset``: the paper's Table II (Section VI.D) end to end, and an improved CCGM.

Data: the Learning Mindsets data (:func:`dowhy_ccgm.datasets.load_mindset`), four of its
columns: ``school_mindset`` (SM), ``success_expect`` (SE), ``intervention`` (D, binary
treatment) and ``achievement_score`` (Y).

Rows of the table (every row: mean, sd and 2.5% / 97.5% quantiles of the ATE over
``n_bootstrap`` iid resamples of ONE data set of the original size, 10,391 rows):

Paper-faithful CCGM (source ``"paper-faithful CCGM"``)
    The paper's DAG (SM and SE are parents of D and Y; no D -> Y edge),
    ``variant="ccgm"`` (endogenous nodes are deterministic functions of their parents),
    ``objective="elbo"``, D declared continuous; the generated D is cut at its top 30%
    (treated). Rows ``"CCGM (paper)"`` and, after removing edges into Y with the paper's
    zeroing of the causal-layer entry (``how="mean"``), ``"paper: de-bias SE"``
    (SE -> Y), ``"paper: de-bias both"`` (SE -> Y and SM -> Y) and ``"paper: de-bias SM"``
    (SM -> Y). The naive difference of means is computed on each generated data set.
Improved CCGM (source ``"improved CCGM"``)
    D binary (Bernoulli likelihood), SE categorical (it is an ordinal 1..7 item), the
    paper's DAG plus the edge D -> Y, ``variant="ccgm_noise"``, ``objective="exact"``.
    Rows ``"CCGM (improved)"`` (should reproduce the data's naive ATE),
    ``"improved: de-bias D (marginal)"`` / ``"improved: de-bias D (typical)"`` (the
    confounding edges SE -> D and SM -> D removed, the mechanism of D fed an independent
    draw from the parents' marginals / fixed typical values: SM's mean and SE's most
    frequent category) and ``"improved: de-bias Y
    (marginal)"`` (SE -> Y and SM -> Y removed instead). In every de-biased data set D is
    independent of the confounders, so the naive difference of means equals the model's
    g-formula (back-door adjusted) ATE, the quantity AIPW estimates.
Real data (source ``"real data"``)
    ``"AIPW"``, ``"IPW"`` and ``"Naive"`` with covariates {SM, SE}
    (:func:`dowhy_ccgm.ate.bootstrap_ate`).

A ground-truth validation repeats the improved pipeline on
:func:`dowhy_ccgm.datasets.simulate_mindset` (known ATE) and is reported separately.
"""
from __future__ import annotations

import os
import time

import networkx as nx
import numpy as np
import pandas as pd

from ._mindset_base import (D, SE, SM, Y, experiment_progress, named_seeds,  # noqa: F401
                            grouped_lines, real_data_bootstraps, run_data)
VARIABLES = [SM, SE, D, Y]
COVARIATES = [SM, SE]
#: Share of generated units called treated by the paper (its data: about 33%).
TREATED_SHARE = 0.30

#: The paper's Table II: method -> (mean, sd, q025, q975).
PAPER_TABLE_II = {
    "CCGM (paper)": (0.680, 0.015, 0.650, 0.707),
    "paper: de-bias SE": (0.240, 0.023, 0.192, 0.283),
    "paper: de-bias both": (0.242, 0.022, 0.204, 0.282),
    "paper: de-bias SM": (0.677, 0.017, 0.647, 0.712),
    "AIPW": (0.405, 0.018, 0.364, 0.441),
    "IPW": (0.404, 0.018, 0.363, 0.440),
    "Naive": (0.468, 0.019, 0.426, 0.507),
}

#: The paper's DAG (Fig. 4): confounders SM and SE into D and Y, no D -> Y edge.
PAPER_GRAPH = nx.DiGraph([(SM, D), (SE, D), (SM, Y), (SE, Y)])
#: The improved model's DAG: the paper's plus the treatment effect D -> Y.
IMPROVED_GRAPH = nx.DiGraph([(SM, D), (SE, D), (SM, Y), (SE, Y), (D, Y)])

#: Model and run settings (full run / --quick). The paper-faithful model keeps the
#: paper's ELBO loop and its settings; the improved model is fit by the exact likelihood
#: with the generator's automatic schedule (passes over the data, early stopping on the
#: validation likelihood).
SETTINGS = {
    "full": {
        "paper": dict(epochs=60, batch_size=1024, learning_rate=3e-3, patience=15),
        "improved": dict(epochs=200),
        "n_population": 200_000,
    },
    "quick": {
        "paper": dict(epochs=10, batch_size=1024, learning_rate=3e-3, patience=15),
        "improved": dict(epochs=20),
        "n_population": 20_000,
        "n_bootstrap": 10,
    },
}

_COLUMNS = ["method", "source", "mean", "sd", "q025", "q975",
            "paper_mean", "paper_sd", "paper_q025", "paper_q975"]
#: with ``refit_bootstrap``: the improved rows' refit-bootstrap point estimate (the fitted
#: model, ``n_population`` generated rows), sd and percentile interval
_REFIT_COLUMNS = ["refit_estimate", "refit_sd", "refit_q025", "refit_q975"]


# ============================================================================ helpers
def binarise_top(values, share: float = TREATED_SHARE) -> np.ndarray:
    """1 for the top ``share`` of ``values`` (by rank, ties broken by order), else 0.

    The paper's rule for its continuous generated treatment ("we take the top 30% as
    having the intervention").
    """
    v = np.asarray(values, dtype=np.float64)
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    n_treated = int(round(share * v.size))
    out = np.zeros(v.size, dtype=np.int64)
    out[np.argsort(-v, kind="stable")[:n_treated]] = 1
    return out


def _check_data(data) -> pd.DataFrame:
    if data is None:
        from ..datasets import load_mindset
        data = load_mindset()
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in VARIABLES if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks the column(s) {missing}; it needs {VARIABLES}")
    out = data[VARIABLES].copy()
    if not set(np.unique(out[D])) <= {0, 1}:
        raise ValueError(f"{D!r} must be binary 0/1")
    out[D] = out[D].astype(np.int64)
    return out.reset_index(drop=True)


# ============================================================================ models
def fit_paper_model(data: pd.DataFrame, *, epochs=60, batch_size=1024, learning_rate=3e-3,
                    patience=15, random_state=0, progress_bar=None):
    """The paper-faithful CCGM: paper DAG, ``variant="ccgm"``, ``objective="elbo"``,
    D declared continuous (passed as float so the generated values stay continuous)."""
    from .. import CCGMGenerator
    frame = data[VARIABLES].copy()
    frame[D] = frame[D].astype(np.float64)
    gen = CCGMGenerator(PAPER_GRAPH, variant="ccgm", objective="elbo",
                        column_types={D: "continuous"}, epochs=epochs, batch_size=batch_size,
                        learning_rate=learning_rate, patience=patience,
                        random_state=random_state, progress_bar=progress_bar)
    return gen.fit(frame)


def fit_improved_model(data: pd.DataFrame, *, epochs=200, batch_size=None, learning_rate=None,
                       patience=None, random_state=0, progress_bar=None, **params):
    """The improved CCGM: paper DAG + D -> Y, D binary (Bernoulli), SE categorical,
    ``variant="ccgm_noise"``, ``objective="exact"``; ``params``: further
    :class:`~dowhy_ccgm.CCGMGenerator` parameters."""
    from .. import CCGMGenerator
    frame = data[VARIABLES].copy()
    frame[D] = frame[D].astype(np.int64)
    gen = CCGMGenerator(IMPROVED_GRAPH, variant="ccgm_noise", objective="exact",
                        column_types={D: "binary", SE: "categorical"}, epochs=epochs,
                        batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                        random_state=random_state, progress_bar=progress_bar, **params)
    return gen.fit(frame)


def remove_edges(gen, edges, how="mean", random_state=0):
    """``gen`` with every ``(parent, child)`` of ``edges`` removed (no retraining)."""
    seeds = named_seeds(random_state, [f"{p}->{c}" for p, c in edges])
    out = gen
    for parent, child in edges:
        out = out.remove_edge(parent, child, how=how, random_state=seeds[f"{parent}->{child}"])
    return out


def typical_values(gen, random_state=0, n: int = 20_000) -> dict:
    """The confounders' reference values under the model (the edge-removal policy's unit-level
    values, :mod:`dowhy_ccgm._removal`): SM's mean, SE's most frequent category."""
    s = gen.sample(n, random_state=random_state)
    return {SM: float(s[SM].mean()), SE: s[SE].value_counts().idxmax()}


def debias_treatment(gen, how="marginal", random_state=0):
    """Remove the confounding edges into the treatment (SE -> D, SM -> D). ``how="typical"``
    feeds D's mechanism fixed typical confounders (:func:`typical_values`): SE is
    categorical, and ``how="mean"`` is refused for a categorical parent (its mean is a state
    D's mechanism never saw)."""
    if how != "typical":
        return remove_edges(gen, [(SE, D), (SM, D)], how=how, random_state=random_state)
    values = typical_values(gen, random_state)
    return gen.remove_edge(SE, D, how=values[SE]).remove_edge(SM, D, how=values[SM])


def paper_generated(gen, n: int, random_state=0) -> dict:
    """Generated data sets of the paper-faithful model: {row name: DataFrame}.

    Each frame has ``intervention`` binarised at its top 30% and the model's
    continuous value in ``intervention_score``. All rows share the sampling noise
    (common random numbers), so they differ only by the removed edges.
    """
    rs = named_seeds(random_state, ["sample", "se", "both", "sm"])
    models = {
        "CCGM (paper)": gen,
        "paper: de-bias SE": remove_edges(gen, [(SE, Y)], "mean", rs["se"]),
        "paper: de-bias both": remove_edges(gen, [(SE, Y), (SM, Y)], "mean", rs["both"]),
        "paper: de-bias SM": remove_edges(gen, [(SM, Y)], "mean", rs["sm"]),
    }
    out = {}
    for name, model in models.items():
        s = model.sample(n, random_state=rs["sample"])
        s["intervention_score"] = s[D].astype(np.float64)
        s[D] = binarise_top(s["intervention_score"].to_numpy())
        out[name] = s
    return out


def improved_generated(gen, n: int, random_state=0) -> dict:
    """Generated data sets of the improved model: {row name: DataFrame} (common random
    numbers across rows)."""
    rs = named_seeds(random_state, ["sample", "d_marginal", "d_typical", "y_marginal"])
    models = {
        "CCGM (improved)": gen,
        "improved: de-bias D (marginal)": debias_treatment(gen, "marginal", rs["d_marginal"]),
        "improved: de-bias D (typical)": debias_treatment(gen, "typical", rs["d_typical"]),
        "improved: de-bias Y (marginal)": remove_edges(gen, [(SE, Y), (SM, Y)], "marginal",
                                                       rs["y_marginal"]),
    }
    return {name: m.sample(n, random_state=rs["sample"]) for name, m in models.items()}


def gformula_ate(gen, n: int = 200_000, random_state=0) -> float:
    """The model's interventional ATE ``E[Y | do(D=1)] - E[Y | do(D=0)]`` (common
    random numbers)."""
    y1 = gen.intervene({D: 1}, n_samples=n, random_state=random_state)[Y].mean()
    y0 = gen.intervene({D: 0}, n_samples=n, random_state=random_state)[Y].mean()
    return float(y1 - y0)


class DebiasTypicalATE:
    """Refit-bootstrap statistic of the row ``"improved: de-bias D (typical)"``: the naive
    ATE of ``n_samples`` rows generated after :func:`debias_treatment` with ``how="typical"``
    (the typical values are the refitted model's own)."""

    def __init__(self, n_samples: int):
        self.n_samples = int(n_samples)

    def __call__(self, gen, data, random_state) -> float:
        from ..ate import naive_ate
        cut = debias_treatment(gen, "typical", int(random_state))
        return naive_ate(cut.sample(self.n_samples, random_state=int(random_state)), D, Y)


def refit_statistics(n_samples: int = 100_000) -> dict:
    """The improved rows as refit-bootstrap statistics (:mod:`dowhy_ccgm.bootstrap`)."""
    from ..bootstrap import DoATE, NaiveATE
    into_d = [(SE, D, "marginal"), (SM, D, "marginal")]
    into_y = [(SE, Y, "marginal"), (SM, Y, "marginal")]
    return {
        "CCGM (improved)": NaiveATE(D, Y, n_samples=n_samples),
        "improved: de-bias D (marginal)": NaiveATE(D, Y, remove_edges=into_d,
                                                   n_samples=n_samples),
        "improved: de-bias D (typical)": DebiasTypicalATE(n_samples),
        "improved: de-bias Y (marginal)": NaiveATE(D, Y, remove_edges=into_y,
                                                   n_samples=n_samples),
        "improved: E[Y|do(D=1)] - E[Y|do(D=0)]": DoATE(D, Y, n_samples=n_samples),
    }


def refit_intervals(gen, data, n_bootstrap: int, *, cluster=None, random_state=0,
                    n_jobs=1, progress_bar=None, n_samples: int = 100_000):
    """The refit bootstrap of the improved rows: ``n_bootstrap`` refits of the improved
    CCGM on resamples of ``data`` (rows iid, or whole ``cluster`` groups such as
    ``"schoolid"``); the fitted ``gen`` gives the point estimates
    (:func:`dowhy_ccgm.bootstrap.bootstrap`)."""
    from ..bootstrap import bootstrap
    return bootstrap(gen, data, refit_statistics(n_samples), n_bootstrap=n_bootstrap,
                     cluster=cluster, random_state=random_state, n_jobs=n_jobs,
                     progress_bar=progress_bar)


# ============================================================================ validation
def validate_on_simulation(n: int = 10_391, *, ate: float = 0.40, quick: bool = False,
                           random_state=0, progress_bar=None, n_population=None) -> dict:
    """The improved pipeline on :func:`~dowhy_ccgm.datasets.simulate_mindset` (known ATE).

    Returns a dict: ``true_ate``, the simulated data's ``data_naive`` and ``data_aipw``,
    the improved model's naive ATE (``generated_naive``) and its de-biased naive ATE
    (``debiased_naive``, edges into D removed with ``how="marginal"``) on a generated
    data set of ``n`` rows, the same two on ``n_population`` generated rows
    (``generated_naive_population``, ``debiased_naive_population``: generation noise
    negligible) and the model's ``gformula_ate``.
    """
    from ..ate import aipw_ate, naive_ate
    from ..datasets import simulate_mindset
    cfg = SETTINGS["quick" if quick else "full"]
    n_population = cfg["n_population"] if n_population is None else int(n_population)
    seeds = named_seeds(random_state, ["sim", "fit", "cut", "sample", "pop", "gformula", "aipw"])
    sim, true_ate = simulate_mindset(n, ate=ate, random_state=seeds["sim"])
    gen = fit_improved_model(sim, random_state=seeds["fit"], progress_bar=progress_bar,
                             **cfg["improved"])
    cut = debias_treatment(gen, "marginal", seeds["cut"])
    one, one_cut = gen.sample(n, random_state=seeds["sample"]), cut.sample(
        n, random_state=seeds["sample"])
    pop, pop_cut = gen.sample(n_population, random_state=seeds["pop"]), cut.sample(
        n_population, random_state=seeds["pop"])
    return {
        "n": int(n), "true_ate": float(true_ate),
        "data_naive": naive_ate(sim, D, Y),
        "data_aipw": aipw_ate(sim, D, Y, COVARIATES, random_state=seeds["aipw"]),
        "generated_naive": naive_ate(one, D, Y),
        "debiased_naive": naive_ate(one_cut, D, Y),
        "n_population": n_population,
        "generated_naive_population": naive_ate(pop, D, Y),
        "debiased_naive_population": naive_ate(pop_cut, D, Y),
        "gformula_ate": gformula_ate(gen, n_population, seeds["gformula"]),
        "epochs_trained": int(gen.history_["epochs"]),
    }


# ============================================================================ the table
def _timed(fn, **kwargs):
    t = time.perf_counter()
    out = fn(**kwargs)
    return out, time.perf_counter() - t


def _row(method, source, boot):
    paper = PAPER_TABLE_II.get(method, (np.nan,) * 4)
    return {"method": method, "source": source, "mean": boot["mean"], "sd": boot["sd"],
            "q025": boot["q025"], "q975": boot["q975"], "paper_mean": paper[0],
            "paper_sd": paper[1], "paper_q025": paper[2], "paper_q975": paper[3]}


def mindset_table(data=None, *, n_bootstrap=100, quick=False, random_state=0,
                  progress_bar=None, n_jobs=1, validate=True, refit_bootstrap=0,
                  refit_cluster=None):
    """Reproduce the paper's Table II and the improved model's rows.

    Parameters
    ----------
    data : DataFrame, optional
        Default :func:`~dowhy_ccgm.datasets.load_mindset`; needs the four columns
        ``school_mindset``, ``success_expect``, ``intervention``, ``achievement_score``.
    n_bootstrap : int, default 100
        Bootstrap resamples per row (``quick`` uses at most 10).
    quick : bool
        Few epochs and resamples: a smoke run of the whole pipeline (tens of seconds).
    random_state : int
        Seeds every step (model fits, sampling, edge removal, bootstraps).
    progress_bar : bool, optional
        tqdm bars for fitting and bootstrapping; ``None`` follows
        ``dowhy.gcm.config.show_progress_bars``.
    n_jobs : int
        Parallel workers for the independent model fits (paper-faithful, improved,
        validation) and the real-data bootstraps; results do not depend on it.
    validate : bool, default True
        Also run :func:`validate_on_simulation`.
    refit_bootstrap : int, default 0
        If positive, also the refit bootstrap of the improved rows with this many refits
        (:func:`refit_intervals`): intervals that include the uncertainty of the fit.
    refit_cluster : str, optional
        Resample whole groups of this column of ``data`` in the refit bootstrap (the real
        data's ``"schoolid"``: 76 schools); None resamples students iid.

    Returns
    -------
    table : DataFrame
        One row per method: ``method, source, mean, sd, q025, q975`` and the paper's
        ``paper_mean, paper_sd, paper_q025, paper_q975`` (NaN where the paper has none).
    artefacts : dict
        ``data`` (the real four columns), ``generated`` ({row: generated DataFrame}),
        ``estimates`` ({row: bootstrap ATEs}), ``models`` (the two fitted generators),
        ``gformula_ate`` (the improved model's interventional ATE),
        ``validation`` (dict or None), ``refit`` (the
        :class:`~dowhy_ccgm.bootstrap.BootstrapResult` or None), ``settings`` and
        ``timings`` (seconds).
    """
    from joblib import Parallel, delayed

    from .._progress import progress_bar as tqdm
    from ..ate import bootstrap_ate
    t_start = time.perf_counter()
    data = run_data(data, refit_bootstrap, refit_cluster)
    clusters = data[refit_cluster].to_numpy() if refit_cluster is not None else None
    data = _check_data(data)
    cfg = SETTINGS["quick" if quick else "full"]
    if quick:
        n_bootstrap = min(int(n_bootstrap), cfg["n_bootstrap"])
    show = experiment_progress(progress_bar)
    n_jobs = max(1, int(n_jobs))
    seeds = named_seeds(random_state, ["paper_fit", "improved_fit", "paper_sample",
                                       "improved_sample", "boot_generated", "boot_real",
                                       "gformula", "validation", "refit"])
    n = len(data)

    # -- 1. the model fits (and the validation, which fits its own model): independent
    # jobs, run in parallel when n_jobs > 1 (each fit uses one torch thread).
    jobs = {
        "fit improved": (fit_improved_model, dict(data=data, random_state=seeds["improved_fit"],
                                                  **cfg["improved"])),
        "fit paper-faithful": (fit_paper_model, dict(data=data, random_state=seeds["paper_fit"],
                                                     **cfg["paper"])),
    }
    if validate:
        jobs["validation"] = (validate_on_simulation, dict(n=n, quick=quick,
                                                           random_state=seeds["validation"]))
    if n_jobs > 1:  # progress of the whole step; the workers' own bars stay off
        inner = False
        order = ["fit improved", "validation", "fit paper-faithful"]
        order = [k for k in order if k in jobs]
        runner = Parallel(n_jobs=min(n_jobs, len(jobs)), return_as="generator")(
            delayed(_timed)(jobs[k][0], progress_bar=inner, **jobs[k][1]) for k in order)
        done = dict(zip(order, tqdm(runner, total=len(order), disable=not show,
                                    desc="Fitting CCGM models (parallel)")))
    else:
        done = {k: _timed(fn, progress_bar=show, **kw) for k, (fn, kw) in jobs.items()}
    timings = {k: done[k][1] for k in jobs}
    improved_gen, paper_gen = done["fit improved"][0], done["fit paper-faithful"][0]
    validation = done["validation"][0] if validate else None

    # -- 2. one generated data set of the original size per row
    t = time.perf_counter()
    generated = {**paper_generated(paper_gen, n, seeds["paper_sample"]),
                 **improved_generated(improved_gen, n, seeds["improved_sample"])}
    gformula = gformula_ate(improved_gen, cfg["n_population"], seeds["gformula"])
    timings["generate"] = time.perf_counter() - t

    # -- 3. bootstraps: the naive ATE of every generated data set, the estimators on the data
    t = time.perf_counter()
    rows, estimates = [], {}
    boot_seeds = np.random.SeedSequence(seeds["boot_generated"]).spawn(len(generated))
    for (name, frame), ss in zip(generated.items(), boot_seeds):
        source = "paper-faithful CCGM" if name in PAPER_TABLE_II else "improved CCGM"
        boot = bootstrap_ate(frame, "naive", treatment=D, outcome=Y, n_bootstrap=n_bootstrap,
                             random_state=ss, progress_bar=show)
        estimates[name] = boot["estimates"]
        rows.append(_row(name, source, boot))
    timings["bootstrap generated"] = time.perf_counter() - t
    t = time.perf_counter()
    # The same resamples (one seed) for the three real-data estimators.
    real = real_data_bootstraps(data, COVARIATES, n_bootstrap=n_bootstrap,
                                random_state=seeds["boot_real"], n_jobs=n_jobs, show=show)
    for name, boot in real.items():
        estimates[name] = boot["estimates"]
        rows.append(_row(name, "real data", boot))
    timings["bootstrap real"] = time.perf_counter() - t
    refit = None
    if refit_bootstrap:
        t = time.perf_counter()
        frame = data if clusters is None else data.assign(**{refit_cluster: clusters})
        refit = refit_intervals(improved_gen, frame, int(refit_bootstrap),
                                cluster=refit_cluster, random_state=seeds["refit"],
                                n_jobs=n_jobs, progress_bar=show,
                                n_samples=cfg["n_population"])
        summary = refit.summary()
        for row in rows:
            if row["method"] in summary.index:
                r = summary.loc[row["method"]]
                row.update(refit_estimate=r["estimate"], refit_sd=r["sd"],
                           refit_q025=r["low"], refit_q975=r["high"])
        timings["refit bootstrap"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start

    table = pd.DataFrame(rows, columns=_COLUMNS + (_REFIT_COLUMNS if refit else []))
    artefacts = {
        "data": data, "generated": generated, "estimates": estimates,
        "models": {"paper": paper_gen, "improved": improved_gen},
        "gformula_ate": gformula, "validation": validation, "refit": refit,
        "settings": {"quick": bool(quick), "n_bootstrap": int(n_bootstrap),
                     "refit_bootstrap": int(refit_bootstrap), "refit_cluster": refit_cluster,
                     "random_state": random_state, **{k: v for k, v in cfg.items()
                                                      if k != "n_bootstrap"}},
        "timings": timings,
    }
    return table, artefacts


# ============================================================================ output
def format_table(table: pd.DataFrame) -> str:
    """The table as text: our columns and the paper's side by side."""
    def f(v):
        return "" if pd.isna(v) else _f3(v)
    head = (f"{'method':<32} {'mean':>6} {'sd':>6} {'q025':>6} {'q975':>6} | "
            f"{'paper':>6} {'sd':>6} {'q025':>6} {'q975':>6}")
    lines = grouped_lines(table, head, lambda r: (
        f"{r.method:<32} {f(r.mean):>6} {f(r.sd):>6} {f(r.q025):>6} {f(r.q975):>6} | "
        f"{f(r.paper_mean):>6} {f(r.paper_sd):>6} {f(r.paper_q025):>6} "
        f"{f(r.paper_q975):>6}"))
    lines += ["", LEGEND]
    return "\n".join(lines)


def _f3(v) -> str:
    text = f"{v:.3f}"
    return "0.000" if text == "-0.000" else text      # no negative zeros


def format_refit(table: pd.DataFrame, refit, settings: dict) -> str:
    """The refit-bootstrap intervals of the improved rows next to the one-model ones."""
    s = refit.summary()
    by = table.set_index("method")
    unit = (f"whole {settings['refit_cluster']!r} groups" if settings.get("refit_cluster")
            else "rows iid")
    head = (f"{'method':<40} {'est.':>6} {'sd':>6} {'q025':>6} {'q975':>6} | "
            f"{'one-model q025':>14} {'q975':>6}")
    lines = [f"Intervals that include the fit: refit bootstrap, B = {len(refit.replicates)} "
             f"refits on resamples ({unit}), {settings['n_population']:,} generated rows each",
             head, "-" * len(head)]
    for name, r in s.iterrows():
        one = (f"{_f3(by.loc[name, 'q025']):>14} {_f3(by.loc[name, 'q975']):>6}"
               if name in by.index else f"{'':>14} {'':>6}")
        lines.append(f"{name:<40} {_f3(r['estimate']):>6} {_f3(r['sd']):>6} "
                     f"{_f3(r['low']):>6} {_f3(r['high']):>6} | {one}")
    lines.append("(one-model: today's rows, B resamples of ONE generated data set, the fitted "
                 "model held fixed;\n refit: every resample refits the model. See "
                 "docs/bootstrap.md, 'Two kinds of interval'.)")
    return "\n".join(lines)


#: printed under the table: what each group of rows is, and where the explanation lives
LEGEND = """Legend: ATE = difference of mean achievement, treated minus control; mean, sd and 2.5% /
97.5% quantiles over bootstrap resamples; 'paper' columns: the paper's Table II.
  [paper-faithful CCGM]  the paper's model; 'de-bias X' rows: edge X -> Y removed.
  [improved CCGM]        binary D, categorical SE, exact likelihood; 'de-bias D' rows: the
                         confounding edges into D removed (marginal draws / typical values).
  [real data]            the data's own estimators with covariates SM and SE.
Explanation and figures: docs/mindset.md."""


def table_records(table: pd.DataFrame) -> list:
    """JSON-ready rows (NaN -> None)."""
    out = []
    for rec in table.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        (float(v) if isinstance(v, (float, np.floating)) else v))
                    for k, v in rec.items()})
    return out


def plot_figures(table: pd.DataFrame, artefacts: dict, directory) -> list:
    """Write the figures as PNG files into ``directory``; return their paths.

    ``achievement_score.png`` (paper Fig. 12): generated vs real outcome distribution.
    ``treatment.png`` (Fig. 17): the paper-faithful model's continuous D with its 70% cut,
    and the treated share of the real and the improved generated data.
    ``bootstrap_ate.png`` (Fig. 13): bootstrap ATE distributions of all rows.
    ``refit_intervals.png`` (with a refit bootstrap): the improved rows' one-model and
    refit intervals side by side, with the real-data AIPW interval.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    data, gen = artefacts["data"], artefacts["generated"]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(data[Y].quantile(0.001) - 0.5, data[Y].quantile(0.999) + 0.5, 60)
    ax.hist(data[Y], bins=bins, density=True, alpha=0.45, color="grey", label="real data")
    ax.hist(gen["CCGM (improved)"][Y], bins=bins, density=True, histtype="step", lw=2,
            color="C0", label="improved CCGM")
    ax.hist(gen["CCGM (paper)"][Y], bins=bins, density=True, histtype="step", lw=2,
            color="C3", label="paper-faithful CCGM (variant='ccgm')")
    ax.set_xlabel(Y)
    ax.set_ylabel("density")
    ax.set_title("Generated vs real achievement score (cf. paper Fig. 12)")
    ax.legend(frameon=False)
    fig.tight_layout()
    paths.append(os.path.join(directory, "achievement_score.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    score = gen["CCGM (paper)"]["intervention_score"]
    cut = float(np.quantile(score, 1 - TREATED_SHARE))
    a1.hist(score, bins=60, color="C3", alpha=0.7)
    a1.axvline(cut, color="k", ls="--", label=f"70% quantile ({cut:.3f}): above = treated")
    a1.set_xlabel("generated intervention (continuous)")
    a1.set_ylabel("count")
    a1.set_title("Paper-faithful CCGM: generated D")
    a1.legend(frameon=False, fontsize=8, loc="upper left")
    a1.set_ylim(0, a1.get_ylim()[1] * 1.15)
    names = ["real data", "paper\n(top 30%)", "improved", "improved\nde-bias D\n(marginal)",
             "improved\nde-bias D\n(typical)"]
    shares = [data[D].mean(), gen["CCGM (paper)"][D].mean(), gen["CCGM (improved)"][D].mean(),
              gen["improved: de-bias D (marginal)"][D].mean(),
              gen["improved: de-bias D (typical)"][D].mean()]
    a2.bar(range(len(names)), shares, color=["grey", "C3", "C0", "C2", "C1"])
    for k, s in enumerate(shares):
        a2.text(k, s + 0.005, f"{s:.3f}", ha="center", fontsize=8)
    a2.set_xticks(range(len(names)), names, fontsize=8)
    a2.set_ylabel("share treated (D = 1)")
    a2.set_title("Treated share (cf. paper Fig. 17)")
    fig.tight_layout()
    paths.append(os.path.join(directory, "treatment.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    est = artefacts["estimates"]
    names = list(table["method"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    colours = {"paper-faithful CCGM": "C3", "improved CCGM": "C0", "real data": "grey"}
    sources = list(table["source"])
    box = ax.boxplot([est[m] for m in names], vert=False, whis=(2.5, 97.5), showfliers=False,
                     patch_artist=True)
    for patch, src in zip(box["boxes"], sources):
        patch.set_facecolor(colours.get(src, "white"))
        patch.set_alpha(0.55)
    for k in range(1, len(names)):          # a line between the groups of rows
        if sources[k] != sources[k - 1]:
            ax.axhline(k + 0.5, color="k", lw=0.6, alpha=0.4)
    for src, colour in colours.items():
        if src in sources:
            ax.plot([], [], "s", color=colour, alpha=0.55, ms=8, label=src)
    ax.set_yticks(range(1, len(names) + 1), names, fontsize=8)
    paper = table["paper_mean"].to_numpy()
    has = np.isfinite(paper)
    ax.scatter(paper[has], np.arange(1, len(names) + 1)[has], marker="x", color="C3",
               zorder=3, label="paper's mean")
    aipw = table.set_index("method").loc["AIPW"]
    ax.axvspan(aipw["q025"], aipw["q975"], color="C2", alpha=0.15, label="AIPW 95% interval")
    ax.invert_yaxis()
    ax.set_xlabel("ATE (naive difference of means on generated data; estimators on real data)")
    ax.set_title(f"Bootstrap ATE distributions (B = {len(est[names[0]])}; cf. paper Fig. 13)")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    paths.append(os.path.join(directory, "bootstrap_ate.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    refit = artefacts.get("refit")
    if refit is not None:
        s = refit.summary()
        by = table.set_index("method")
        names = list(s.index)
        fig, ax = plt.subplots(figsize=(8, 0.7 * len(names) + 1.6))
        for k, name in enumerate(names):
            if name in by.index:
                ax.plot([by.loc[name, "q025"], by.loc[name, "q975"]], [k - 0.14] * 2,
                        color="C1", lw=5, alpha=0.7, solid_capstyle="butt",
                        label="one-model interval" if k == 0 else None)
                ax.plot(by.loc[name, "mean"], k - 0.14, "|", color="k", ms=10)
            ax.plot([s.loc[name, "low"], s.loc[name, "high"]], [k + 0.14] * 2, color="C0",
                    lw=5, alpha=0.8, solid_capstyle="butt",
                    label="refit interval (includes the fit)" if k == 0 else None)
            ax.plot(s.loc[name, "estimate"], k + 0.14, "|", color="k", ms=10)
        ax.axvspan(by.loc["AIPW", "q025"], by.loc["AIPW", "q975"], color="C2", alpha=0.15,
                   label="AIPW 95% interval (real data)")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ATE")
        ax.set_title(f"95% intervals: one generated data set vs "
                     f"B = {len(refit.replicates)} refits")
        ax.legend(frameon=False, fontsize=8, loc="lower right")
        fig.tight_layout()
        paths.append(os.path.join(directory, "refit_intervals.png"))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


# ============================================================================ CLI
#: where ``ccgm mindset`` writes by default (relative to the working directory)
DEFAULT_OUT = os.path.join("results", "mindset")


def add_arguments(p):
    from ._args import n_jobs, non_negative_int, output_dir, output_file, positive_int, seed
    p.add_argument("--covariates", choices=("paper", "all"), default="paper",
                   help="paper (default): the paper's Table II with its two covariates; "
                        "all: one CCGM of all ten covariates against IPW/AIPW and EconML's "
                        "DR learner and causal forest with the same ten (ATE and ATT; "
                        "output in results/mindset_all)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: few epochs and 10 bootstrap resamples (tens of seconds)")
    p.add_argument("--out", metavar="DIR", type=output_dir, default=None,
                   help=f"write table.json and the PNG figures here (default {DEFAULT_OUT}; "
                        "with --covariates all, results/mindset_all)")
    p.add_argument("--json", metavar="PATH", type=output_file,
                   help="write the table rows as JSON here instead of OUT/table.json")
    p.add_argument("--figures", metavar="DIR", type=output_dir,
                   help="write the PNG figures here instead of OUT")
    p.add_argument("--seed", type=seed, default=0, help="seed of every step (default 0)")
    p.add_argument("--n-bootstrap", type=positive_int, default=100, dest="n_bootstrap",
                   help="bootstrap resamples per row (default 100)")
    p.add_argument("--n-jobs", type=n_jobs, default=1, dest="n_jobs",
                   help="parallel workers for the model fits and the real-data bootstraps "
                        "(default 1; -1: all cores, as in joblib; results do not depend on it)")
    p.add_argument("--refit-bootstrap", metavar="B", type=non_negative_int, default=0,
                   dest="refit_bootstrap",
                   help="also B refits of the improved model on resamples of the data: "
                        "intervals that include the fit (default 0: off; each refit takes "
                        "a few seconds, use --n-jobs)")
    p.add_argument("--refit-cluster", metavar="COLUMN", default=None, dest="refit_cluster",
                   help="resample whole groups of this column in the refit bootstrap "
                        "(e.g. schoolid: the 76 schools); default: students iid")
    p.add_argument("--no-validation", action="store_false", dest="validate",
                   help="skip the ground-truth validation on simulate_mindset")
    p.add_argument("--no-progress", action="store_false", dest="progress",
                   help="hide the progress bars")


def run(args) -> int:
    from ._args import output_paths, resolve_n_jobs, write_json
    if getattr(args, "covariates", "paper") == "all":
        from .mindset_all import run as run_all
        return run_all(args)
    table, art = mindset_table(n_bootstrap=args.n_bootstrap, quick=args.quick,
                               random_state=args.seed,
                               progress_bar=None if getattr(args, "progress", True) else False,
                               n_jobs=resolve_n_jobs(getattr(args, "n_jobs", 1)),
                               validate=getattr(args, "validate", True),
                               refit_bootstrap=getattr(args, "refit_bootstrap", 0),
                               refit_cluster=getattr(args, "refit_cluster", None))
    print(f"Learning Mindsets ATE (paper Table II); B = {art['settings']['n_bootstrap']} "
          f"bootstrap resamples of one data set of {len(art['data'])} rows; seed {args.seed}"
          f"{'; QUICK settings' if args.quick else ''}")
    print(format_table(table))
    print(f"\nimproved CCGM's interventional ATE E[Y|do(D=1)] - E[Y|do(D=0)] "
          f"({art['settings']['n_population']} draws): {art['gformula_ate']:.3f}")
    if art["refit"] is not None:
        print("\n" + format_refit(table, art["refit"], art["settings"]))
    v = art["validation"]
    if v is not None:
        print(f"\nGround-truth validation (simulate_mindset, n = {v['n']}, true ATE "
              f"{v['true_ate']:.3f}):\n"
              f"  simulated data: naive {v['data_naive']:.3f}, AIPW {v['data_aipw']:.3f}\n"
              f"  improved CCGM, {v['n']} generated rows: naive {v['generated_naive']:.3f}, "
              f"de-biased {v['debiased_naive']:.3f}\n"
              f"  improved CCGM, {v['n_population']} generated rows: naive "
              f"{v['generated_naive_population']:.3f}, de-biased "
              f"{v['debiased_naive_population']:.3f} (error "
              f"{v['debiased_naive_population'] - v['true_ate']:+.3f})"
              + ("\n  (QUICK settings: the models are underfit; use the full run for accuracy)"
                 if args.quick else ""))
    print("\ntimings (s): " + ", ".join(f"{k} {t:.1f}" for k, t in art["timings"].items()))
    out, json_path = output_paths(args, DEFAULT_OUT, "table.json")
    write_json(json_path, table_records(table))
    print(f"wrote {json_path}")
    for path in plot_figures(table, art, args.figures or out):
        print(f"wrote {path}")
    return 0
