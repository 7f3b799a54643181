"""Average-treatment-effect (ATE) baselines for a binary treatment.

These are the reference estimators of the paper's Table II, computed by the standard
PyWhy tools, plus a reproducible (optionally cluster-level) bootstrap around them.

Estimators
----------
``naive_ate``
    Difference of means, ``mean(Y | T=1) - mean(Y | T=0)`` (eq. 9 of the paper). Unbiased
    only when treatment is randomized; under confounding it mixes the treatment effect
    with differences between the treated and the untreated.
``ipw_ate``
    Inverse propensity weighting through DoWhy: ``CausalModel(...).identify_effect()``
    then ``estimate_effect(method_name="backdoor.propensity_score_weighting")`` with a
    logistic-regression propensity model. DoWhy always computes the *self-normalised*
    (Hajek) estimate,
    ``sum(T Y / e) / sum(T / e) - sum((1-T) Y / (1-e)) / sum((1-T) / (1-e))``, and clips
    the estimated propensity ``e`` to ``[0.05, 0.95]`` before weighting. Each call builds a
    fresh ``CausalModel`` on a copy of the used columns, because DoWhy writes helper
    columns (the propensity score, the weights) into its data and later estimates would
    silently reuse them.
``aipw_ate``
    Augmented IPW (doubly robust) through EconML's ``LinearDRLearner`` with a logistic
    propensity model and linear outcome models, fitted with ``X=None`` and the common
    causes as controls ``W``; ``.ate()`` is then exactly the cross-fitted AIPW estimate
    ``mean(mu1 - mu0 + T (Y - mu1) / e - (1-T) (Y - mu0) / (1-e))`` with out-of-fold
    nuisance predictions. Consistent when either nuisance model is right.
``bootstrap_ate``
    Percentile/standard-error bootstrap of any of the above (or of a user function),
    resampling rows iid or whole clusters (e.g. the 76 schools of the learning-mindset
    data), seeded through :class:`numpy.random.SeedSequence` so that results do not
    depend on ``n_jobs``.

Categorical common causes (``category``, ``object``, ``bool`` dtypes) are one-hot encoded
(first level dropped) for the AIPW models; DoWhy does its own encoding for IPW.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Hashable
from typing import Callable, Iterable, Mapping, Sequence, Union

import numpy as np
import pandas as pd

__all__ = ["naive_ate", "ipw_ate", "aipw_ate", "bootstrap_ate", "estimate_ate", "ESTIMATORS",
           "BootstrapError"]


# --------------------------------------------------------------------------- validation
def _as_name_list(common_causes, *, caller: str) -> list:
    if common_causes is None:
        return []
    if isinstance(common_causes, str):
        return [common_causes]
    if not isinstance(common_causes, Iterable):
        raise TypeError(
            f"{caller}: common_causes must be a column name or a list of column names, "
            f"got {type(common_causes).__name__}."
        )
    names = list(common_causes)
    dup = sorted({str(c) for c in names if names.count(c) > 1})
    if dup:
        raise ValueError(f"{caller}: common_causes lists {dup} more than once.")
    return names


def _check_numeric_finite(data: pd.DataFrame, col, role: str, caller: str) -> None:
    s = data[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise ValueError(f"{caller}: {role} column {col!r} must be numeric, got dtype {s.dtype}.")
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{caller}: {role} column {col!r} has {int(bad.sum())} NaN/inf value(s) "
            f"(first at row position {int(np.flatnonzero(bad)[0])})."
        )


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def _validate(data, treatment, outcome, common_causes=None, *, caller: str,
              require_common_causes: bool = False) -> list:
    """Check the inputs of an ATE estimator; return the common causes as a list."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{caller}: data must be a pandas DataFrame, got {type(data).__name__}.")
    causes = _as_name_list(common_causes, caller=caller)
    if require_common_causes and not causes:
        raise ValueError(f"{caller}: needs at least one common cause (common_causes is empty).")

    missing = [c for c in [treatment, outcome, *causes] if c not in data.columns]
    if missing:
        raise ValueError(
            f"{caller}: column(s) {missing} not found in data; available columns: "
            f"{list(data.columns)}."
        )
    if treatment == outcome:
        raise ValueError(f"{caller}: treatment and outcome are the same column {treatment!r}.")
    for role, col in (("treatment", treatment), ("outcome", outcome)):
        if col in causes:
            raise ValueError(f"{caller}: the {role} {col!r} is also listed in common_causes.")

    _check_numeric_finite(data, treatment, "treatment", caller)
    t = data[treatment].to_numpy(dtype=np.float64)
    odd = np.setdiff1d(np.unique(t), [0.0, 1.0])
    if odd.size:
        raise ValueError(
            f"{caller}: treatment column {treatment!r} must be binary 0/1; it also holds "
            f"{odd[:5].tolist()}{' ...' if odd.size > 5 else ''}."
        )
    n_treated = int(t.sum())
    if n_treated == 0:
        raise ValueError(f"{caller}: treatment column {treatment!r} has no treated (1) rows.")
    if n_treated == t.size:
        raise ValueError(f"{caller}: treatment column {treatment!r} has no control (0) rows.")

    _check_numeric_finite(data, outcome, "outcome", caller)
    for col in causes:
        if _is_categorical(data[col]):
            n_na = int(data[col].isna().sum())
            if n_na:
                raise ValueError(
                    f"{caller}: common cause {col!r} has {n_na} missing value(s)."
                )
        else:
            _check_numeric_finite(data, col, "common cause", caller)
    return causes


def encode_controls(data: pd.DataFrame, causes: Sequence) -> np.ndarray:
    frame = data[list(causes)]
    cat = [c for c in causes if _is_categorical(frame[c])]
    if cat:
        frame = pd.get_dummies(frame, columns=cat, drop_first=True)
    return frame.to_numpy(dtype=np.float64)


def _default_propensity_model():
    from sklearn.linear_model import LogisticRegression

    # Same penalised logistic MLE as scikit-learn's default lbfgs solver (and DoWhy's
    # default model), found in a few Newton steps: about 8x faster on low-dimensional data.
    return LogisticRegression(solver="newton-cholesky", max_iter=1000)


# --------------------------------------------------------------------------- estimators
def naive_ate(data: pd.DataFrame, treatment: str, outcome: str) -> float:
    """Naive difference of means ``mean(Y | T=1) - mean(Y | T=0)`` (eq. 9 of the paper).

    Parameters
    ----------
    data : pandas.DataFrame
    treatment : str
        Name of the binary 0/1 treatment column.
    outcome : str
        Name of the numeric outcome column.

    Returns
    -------
    float
    """
    _validate(data, treatment, outcome, caller="naive_ate")
    t = data[treatment].to_numpy(dtype=np.float64) == 1.0
    y = data[outcome].to_numpy(dtype=np.float64)
    return float(y[t].mean() - y[~t].mean())


def ipw_ate(data: pd.DataFrame, treatment: str, outcome: str, common_causes: Sequence, *,
            propensity_model=None, min_ps_score: float = 0.05,
            max_ps_score: float = 0.95) -> float:
    """Inverse-propensity-weighted ATE through DoWhy.

    Builds a fresh ``dowhy.CausalModel`` on a copy of the used columns, identifies the
    backdoor estimand and calls
    ``estimate_effect(method_name="backdoor.propensity_score_weighting")``. DoWhy's
    weighting estimate is the self-normalised (Hajek) one, and it clips propensities to
    ``[min_ps_score, max_ps_score]`` (DoWhy's defaults ``[0.05, 0.95]``).

    Parameters
    ----------
    data : pandas.DataFrame
        Not modified.
    treatment, outcome : str
        Binary 0/1 treatment and numeric outcome columns.
    common_causes : list of str
        Adjustment set (at least one column).
    propensity_model : sklearn classifier, optional
        Defaults to ``LogisticRegression(solver="newton-cholesky")``; cloned on every call.
    min_ps_score, max_ps_score : float
        Clipping bounds of the propensity score.

    Returns
    -------
    float
    """
    causes = _validate(data, treatment, outcome, common_causes, caller="ipw_ate",
                       require_common_causes=True)
    from dowhy import CausalModel
    from sklearn.base import clone

    model = _default_propensity_model() if propensity_model is None else clone(propensity_model)
    cols = [treatment, outcome, *causes]
    frame = data[cols].copy()
    frame[treatment] = frame[treatment].astype(np.int64)
    # A helper-column name that cannot collide with (and be silently reused from) the data.
    ps_col = "__ccgm_propensity_score__"
    while ps_col in frame.columns:
        ps_col = "_" + ps_col
    causal_model = CausalModel(data=frame, treatment=treatment, outcome=outcome,
                               common_causes=list(causes))
    estimand = causal_model.identify_effect(proceed_when_unidentifiable=True)
    estimate = causal_model.estimate_effect(
        estimand,
        method_name="backdoor.propensity_score_weighting",
        target_units="ate",
        method_params={
            "weighting_scheme": "ips_weight",
            "propensity_score_model": model,
            "propensity_score_column": ps_col,
            "min_ps_score": min_ps_score,
            "max_ps_score": max_ps_score,
        },
    )
    return float(estimate.value)


def aipw_ate(data: pd.DataFrame, treatment: str, outcome: str, common_causes: Sequence,
             random_state=None, *, cv: int = 3, propensity_model=None,
             outcome_model=None) -> float:
    """Cross-fitted augmented IPW (doubly robust) ATE through EconML.

    Fits ``econml.dr.LinearDRLearner(model_propensity=LogisticRegression(...),
    model_regression=LinearRegression(), cv=cv, random_state=random_state)`` with
    ``X=None`` and the common causes as controls ``W``; returns ``.ate()``.

    Parameters
    ----------
    data : pandas.DataFrame
    treatment, outcome : str
        Binary 0/1 treatment and numeric outcome columns.
    common_causes : list of str
        Adjustment set (at least one column). Categorical columns are one-hot encoded.
    random_state : None or int
        Seed of the cross-fitting folds (and of the nuisance models, where random).
    cv : int, default 3
        Number of cross-fitting folds.
    propensity_model, outcome_model : sklearn estimators, optional
        Default ``LogisticRegression(solver="newton-cholesky")`` and ``LinearRegression()``.

    Returns
    -------
    float
    """
    causes = _validate(data, treatment, outcome, common_causes, caller="aipw_ate",
                       require_common_causes=True)
    from econml.dr import LinearDRLearner
    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression

    if isinstance(random_state, np.random.Generator):
        random_state = int(random_state.integers(2**31 - 1))
    learner = LinearDRLearner(
        model_propensity=(_default_propensity_model() if propensity_model is None
                          else clone(propensity_model)),
        model_regression=LinearRegression() if outcome_model is None else clone(outcome_model),
        cv=cv,
        random_state=random_state,
    )
    y = data[outcome].to_numpy(dtype=np.float64)
    t = data[treatment].to_numpy(dtype=np.float64).astype(np.int64)
    learner.fit(y, t, X=None, W=encode_controls(data, causes))
    return float(np.ravel(learner.ate())[0])


#: Estimators available by name to :func:`bootstrap_ate` and :func:`estimate_ate`.
ESTIMATORS: Mapping[str, Callable[..., float]] = {
    "naive": naive_ate,
    "ipw": ipw_ate,
    "aipw": aipw_ate,
}


def _resolve_estimator(estimator) -> tuple[Callable[..., float], Union[str, None]]:
    if isinstance(estimator, str):
        key = estimator.lower()
        if key not in ESTIMATORS:
            raise ValueError(
                f"Unknown ATE estimator {estimator!r}; choose one of {sorted(ESTIMATORS)} "
                "or pass a callable f(data, **kwargs) -> float."
            )
        return ESTIMATORS[key], key
    if callable(estimator):
        return estimator, None
    raise TypeError(
        f"estimator must be a name in {sorted(ESTIMATORS)} or a callable, "
        f"got {type(estimator).__name__}."
    )


def estimate_ate(data: pd.DataFrame, method: str, treatment: str, outcome: str,
                 common_causes: Union[Sequence, None] = None, **kwargs) -> float:
    """Estimate the ATE with the estimator named ``method`` ("naive", "ipw" or "aipw").

    ``common_causes`` is ignored (but checked) by "naive"; further keyword arguments go to
    the estimator (e.g. ``random_state`` or ``cv`` for "aipw").
    """
    fn, key = _resolve_estimator(method)
    if key is None:
        raise TypeError("estimate_ate: method must be an estimator name; call a callable directly.")
    if key == "naive":
        _validate(data, treatment, outcome, common_causes, caller="estimate_ate")
        return fn(data, treatment, outcome, **kwargs)
    return fn(data, treatment, outcome, common_causes, **kwargs)


# --------------------------------------------------------------------------- bootstrap
def seed_sequence(random_state) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63 - 1)))
    if random_state is None or (isinstance(random_state, numbers.Integral)
                                and not isinstance(random_state, bool) and random_state >= 0):
        return np.random.SeedSequence(None if random_state is None else int(random_state))
    raise ValueError(
        "random_state must be None, a non-negative int, a numpy SeedSequence or Generator; "
        f"got {random_state!r}."
    )


def _accepts_random_state(fn: Callable) -> bool:
    try:
        return "random_state" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


class BootstrapError(RuntimeError):
    """A bootstrap resample failed; the message names the resample and why."""


def _one_resample(data: pd.DataFrame, fn: Callable, kwargs: dict, seed: np.random.SeedSequence,
                  groups: Union[list, None], pass_seed: bool, index: int = 0,
                  total: int = 1) -> float:
    try:
        value = _resample_estimate(data, fn, kwargs, seed, groups, pass_seed)
    except Exception as exc:
        raise BootstrapError(
            f"bootstrap_ate: resample {index} of {total} (seed spawn key {seed.spawn_key}) "
            f"failed: {type(exc).__name__}: {exc}") from exc
    if not np.isfinite(value):
        raise BootstrapError(
            f"bootstrap_ate: resample {index} of {total} (seed spawn key {seed.spawn_key}) "
            f"gave a non-finite estimate ({value}); the resample may lack treated or "
            "control units, or the estimator failed silently")
    return value


def resample_rows(rng: np.random.Generator, n: int, groups: Union[list, None]) -> np.ndarray:
    """Row positions of one bootstrap resample: ``n`` rows drawn iid, or (``groups``: a list
    of row-position arrays, one per cluster) as many whole clusters as there are."""
    if groups is None:
        return rng.integers(0, n, size=n)
    picked = rng.integers(0, len(groups), size=len(groups))
    return np.concatenate([groups[g] for g in picked])


def check_n_bootstrap(n_bootstrap, caller: str) -> None:
    """The number of bootstrap resamples must be an integer of at least 2."""
    if (isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral)
            or n_bootstrap < 2):
        raise ValueError(f"{caller}: n_bootstrap must be an integer >= 2, got "
                         f"{n_bootstrap!r}.")


def cluster_groups(data: pd.DataFrame, cluster, caller: str) -> Union[list, None]:
    """The row positions of each cluster of ``data[cluster]`` (``None``: no clusters)."""
    if cluster is None:
        return None
    if not isinstance(cluster, Hashable) or isinstance(
            cluster, (pd.Series, pd.Index, np.ndarray)):
        raise TypeError(f"{caller}: cluster must be the name of a column of data, got a "
                        f"{type(cluster).__name__}; add the labels to data as a column and "
                        "pass its name")
    if cluster not in data.columns:
        raise ValueError(f"{caller}: cluster column {cluster!r} not found in data; available "
                         f"columns: {list(data.columns)}.")
    codes, uniques = pd.factorize(data[cluster], use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"{caller}: cluster column {cluster!r} has missing values.")
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(uniques)))[:-1]
    groups = np.split(order, bounds)
    if len(groups) < 2:
        raise ValueError(f"{caller}: cluster column {cluster!r} has fewer than 2 groups.")
    return groups


def _resample_estimate(data, fn, kwargs, seed, groups, pass_seed) -> float:
    rows = resample_rows(np.random.default_rng(seed), len(data), groups)
    sample = data.iloc[rows].reset_index(drop=True)
    if pass_seed:
        kwargs = {**kwargs, "random_state": int(seed.generate_state(1, dtype=np.uint32)[0])}
    return float(fn(sample, **kwargs))


def bootstrap_ate(data: pd.DataFrame, estimator, *, n_bootstrap: int = 100, cluster=None,
                  random_state=None, n_jobs: int = 1, progress_bar=None,
                  **estimator_kwargs) -> dict:
    """Bootstrap distribution of an ATE estimate.

    Parameters
    ----------
    data : pandas.DataFrame
    estimator : {"naive", "ipw", "aipw"} or callable
        A named estimator of this module, or ``f(df, **estimator_kwargs) -> float``.
    n_bootstrap : int, default 100
        Number of resamples (at least 2).
    cluster : str, optional
        Column whose groups are resampled whole (a cluster bootstrap: draw as many groups
        as there are, with replacement, and keep all rows of each drawn group). ``None``
        resamples rows iid.
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Resample ``i`` uses the ``i``-th child of ``SeedSequence(random_state)`` both for
        its row indices and, when the estimator takes a ``random_state`` argument that is
        not given in ``estimator_kwargs`` (e.g. "aipw"), for that argument. Results are
        therefore reproducible and independent of ``n_jobs``.
    n_jobs : int, default 1
        Parallel workers (joblib).
    progress_bar : bool, optional
        Show a tqdm progress bar; ``None`` follows ``dowhy.gcm.config.show_progress_bars``.
    **estimator_kwargs
        Passed to the estimator on every resample, e.g. ``treatment=...,
        outcome=..., common_causes=[...]`` for the named estimators ("naive" checks but
        ignores ``common_causes``, so one set of keyword arguments serves all three).

    Returns
    -------
    dict
        ``mean``, ``sd`` (standard deviation, ddof=1), ``q025`` and ``q975`` (2.5% and
        97.5% quantiles) of the bootstrap estimates, and ``estimates`` (numpy array of
        length ``n_bootstrap``, in resample order).
    """
    from joblib import Parallel, delayed

    from ._progress import progress_bar as tqdm

    fn, key = _resolve_estimator(estimator)
    check_n_bootstrap(n_bootstrap, "bootstrap_ate")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"bootstrap_ate: data must be a pandas DataFrame, got {type(data).__name__}."
        )
    if len(data) == 0:
        raise ValueError("bootstrap_ate: data has no rows.")
    groups = cluster_groups(data, cluster, "bootstrap_ate")   # row positions: kept below

    kwargs = dict(estimator_kwargs)
    if key is not None:
        # Check once on the full data and ship only the columns the estimator uses.
        try:
            treatment, outcome = kwargs["treatment"], kwargs["outcome"]
        except KeyError as err:
            raise ValueError(
                f"bootstrap_ate: estimator {key!r} needs treatment=... and outcome=... "
                "keyword arguments."
            ) from err
        causes = _validate(data, treatment, outcome, kwargs.get("common_causes"),
                           caller="bootstrap_ate", require_common_causes=key != "naive")
        if key == "naive":
            # Like estimate_ate: the difference of means checks but ignores common_causes.
            kwargs.pop("common_causes", None)
            causes = []
        used = [treatment, outcome, *causes]
        if cluster is not None and cluster not in used:
            used.append(cluster)
        data = data[used]

    pass_seed = "random_state" not in kwargs and _accepts_random_state(fn)
    seeds = seed_sequence(random_state).spawn(int(n_bootstrap))

    if progress_bar is None:
        from dowhy.gcm import config as gcm_config

        progress_bar = bool(gcm_config.show_progress_bars)

    tasks = (delayed(_one_resample)(data, fn, kwargs, s, groups, pass_seed, k,
                                    int(n_bootstrap)) for k, s in enumerate(seeds))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    # (a list, not np.fromiter(count=n): that stops before the iterator is exhausted, so
    # the bar never reaches n/n)
    estimates = np.asarray(list(
        tqdm(results, total=int(n_bootstrap), disable=not progress_bar,
             desc=f"Bootstrapping ATE ({key or getattr(fn, '__name__', 'estimator')})")),
        dtype=np.float64)
    return {
        "mean": float(estimates.mean()),
        "sd": float(estimates.std(ddof=1)),
        "q025": float(np.quantile(estimates, 0.025)),
        "q975": float(np.quantile(estimates, 0.975)),
        "estimates": estimates,
    }
