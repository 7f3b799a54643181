"""Intervals that include the fit: the refit bootstrap of any statistic of a fitted CCGM.

:func:`dowhy_ccgm.ate.bootstrap_ate` on ONE generated data set resamples that data set
only: its interval holds the sampling noise of a difference of means on generated rows,
not the uncertainty of the fitted model that generated them. :func:`bootstrap` refits:

1. draw a resample of the data (rows iid, or whole clusters such as schools);
2. fit a clone of the (unfitted) generator on it, with the replicate's own seed;
3. apply the statistic's edits (edges to remove) and compute it (on generated data, on
   interventions, or on the resample's own units);
4. repeat ``n_bootstrap`` times; the point estimate comes from the model fit on the full
   data; the interval is the percentile interval of the replicates.

The replicates run through joblib, so the same call runs on local processes (``n_jobs``)
or on a Dask cluster::

    from dask.distributed import Client, LocalCluster
    import joblib
    with Client(LocalCluster(n_workers=2, threads_per_worker=1)), \\
            joblib.parallel_backend("dask"):
        result = bootstrap(CCGMGenerator(graph), data, DoATE("T", "Y"), n_bootstrap=200,
                           random_state=0)

(Ray: ``from ray.util.joblib import register_ray; register_ray()`` and
``joblib.parallel_backend("ray")``; untested here, Ray's node does not start on the
project's machines.) Replicate ``b`` is determined by the ``b``-th child of
``numpy.random.SeedSequence(random_state)`` alone (its resample, its fit's
``random_state`` and its statistic's seed), and every fit uses the estimator's
``n_threads`` (one torch thread by default), so results do not depend on the number of
workers or on the backend.

Statistics
----------
A statistic is a callable ``statistic(generator, data, random_state) -> float``: the
fitted generator of the replicate, the data it was fit on (the resample; the full data for
the point estimate) and an integer seed. Ready ones:

* :class:`NaiveATE`: the difference of means of ``n_samples`` generated rows, after the
  edges in ``remove_edges`` are removed (the de-biased ATE of the paper's Table II);
* :class:`DoATE`: the model's interventional ATE ``E[Y | do(T=1)] - E[Y | do(T=0)]``;
* :class:`EffectOnTreated`: the ATT over the data's treated units' own counterfactuals;
* :class:`OnGenerated`: any ``fn(generated DataFrame) -> float`` on generated (optionally
  intervened, edge-removed) data.

Pass a dict ``{name: statistic}`` to compute several statistics from the same refits.
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from .ate import (BootstrapError, seed_sequence, check_n_bootstrap, cluster_groups, naive_ate,
                  resample_rows)

__all__ = ["bootstrap", "BootstrapResult", "BootstrapError", "NaiveATE", "DoATE",
           "EffectOnTreated", "OnGenerated"]

#: Generated rows per statistic evaluation: large, so that generation noise is small next
#: to the uncertainty of the fit (the sd of a difference of means on 100k rows is about
#: 0.3% of the outcome's sd).
N_SAMPLES = 100_000
INTERVAL_METHODS = ("percentile", "basic", "normal")


# ============================================================================ statistics
def _edge_list(remove_edges) -> tuple:
    """``remove_edges`` as a tuple of (parent, child, how) (``how`` None: the default)."""
    if remove_edges is None:
        return ()
    if isinstance(remove_edges, tuple) and len(remove_edges) in (2, 3) and not any(
            isinstance(e, (tuple, list)) for e in remove_edges):
        remove_edges = [remove_edges]          # one edge given bare
    out = []
    for k, e in enumerate(remove_edges):
        if not isinstance(e, (tuple, list)) or len(e) not in (2, 3):
            raise ValueError(f"remove_edges[{k}] must be (parent, child) or (parent, child, "
                             f"how), got {e!r}")
        out.append((e[0], e[1], e[2] if len(e) == 3 else None))
    return tuple(out)


def _check_n_samples(n_samples, caller: str) -> int:
    if (isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral)
            or n_samples < 2):
        raise ValueError(f"{caller}: n_samples must be an integer >= 2, got {n_samples!r}")
    return int(n_samples)


class _Edited:
    """A statistic computed on the generator after its edges are removed."""

    def __init__(self, remove_edges=(), n_samples: int = N_SAMPLES):
        self.remove_edges = _edge_list(remove_edges)
        self.n_samples = _check_n_samples(n_samples, type(self).__name__)

    def nodes(self) -> list:
        """The nodes this statistic names (checked against the graph before any fit)."""
        return [v for p, c, _ in self.remove_edges for v in (p, c)]

    def check(self, graph) -> None:
        name = type(self).__name__
        for p, c, _ in self.remove_edges:
            if not graph.has_edge(p, c):
                raise ValueError(f"{name}: remove_edges names {p!r} -> {c!r}, which is not an "
                                 "edge of the generator's graph")
        for v in self.nodes():
            if v not in graph.nodes:
                raise KeyError(f"{name}: unknown node {v!r}; the graph's nodes are "
                               f"{list(graph.nodes)}")

    def edited(self, gen, seed: int):
        seeds = np.random.SeedSequence(seed).generate_state(max(len(self.remove_edges), 1))
        for (p, c, how), s in zip(self.remove_edges, seeds):
            kw = {} if how is None else {"how": how}
            gen = gen.remove_edge(p, c, random_state=int(s), **kw)
        return gen

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v not in ((), None))
        return f"{type(self).__name__}({args})"


class NaiveATE(_Edited):
    """``mean(Y | T=1) - mean(Y | T=0)`` on ``n_samples`` rows generated after removing
    ``remove_edges``; with the edges into the treatment removed it is the de-biased ATE."""

    def __init__(self, treatment, outcome, *, remove_edges=(), n_samples: int = N_SAMPLES):
        super().__init__(remove_edges, n_samples)
        self.treatment, self.outcome = treatment, outcome

    def nodes(self):
        return [self.treatment, self.outcome, *super().nodes()]

    def __call__(self, gen, data, random_state) -> float:
        seed = int(random_state)
        s = self.edited(gen, seed).sample(self.n_samples, random_state=seed)
        return naive_ate(s, self.treatment, self.outcome)


class DoATE(_Edited):
    """The model's interventional ATE ``E[Y | do(T=treated)] - E[Y | do(T=control)]``
    (:func:`dowhy_ccgm.effects.average_effect`, common random numbers)."""

    def __init__(self, treatment, outcome, treated=1, control=0, *, remove_edges=(),
                 n_samples: int = N_SAMPLES):
        super().__init__(remove_edges, n_samples)
        self.treatment, self.outcome = treatment, outcome
        self.treated, self.control = treated, control

    def nodes(self):
        return [self.treatment, self.outcome, *super().nodes()]

    def __call__(self, gen, data, random_state) -> float:
        from .effects import average_effect
        seed = int(random_state)
        return average_effect(self.edited(gen, seed), self.treatment, self.outcome,
                              self.treated, self.control, n_samples=self.n_samples,
                              random_state=seed)


class EffectOnTreated(_Edited):
    """The ATT: the mean ``Y_i(treated) - Y_i(control)`` over the units of the data (the
    replicate's resample) whose treatment is ``treated``, from their own counterfactuals
    (:func:`dowhy_ccgm.effects.effect_on_treated`)."""

    def __init__(self, treatment, outcome, treated=1, control=0, *, n_draws: int = 1):
        super().__init__((), N_SAMPLES)
        self.treatment, self.outcome = treatment, outcome
        self.treated, self.control, self.n_draws = treated, control, n_draws

    def nodes(self):
        return [self.treatment, self.outcome]

    def __call__(self, gen, data, random_state) -> float:
        from .effects import effect_on_treated
        return effect_on_treated(gen, data, self.treatment, self.outcome, self.treated,
                                 self.control, n_draws=self.n_draws,
                                 random_state=int(random_state))


class OnGenerated(_Edited):
    """``fn(generated)`` for any ``fn(DataFrame) -> float``: ``n_samples`` rows generated
    after removing ``remove_edges``, under ``do(interventions)`` when given."""

    def __init__(self, fn: Callable[[pd.DataFrame], float], *, remove_edges=(),
                 interventions: Mapping | None = None, n_samples: int = N_SAMPLES):
        if not callable(fn):
            raise TypeError(f"OnGenerated: fn must be callable, got {type(fn).__name__}")
        if interventions is not None and (not isinstance(interventions, Mapping)
                                          or not interventions):
            raise ValueError("OnGenerated: interventions must be a non-empty dict {node: value}"
                             f" or None, got {interventions!r}")
        super().__init__(remove_edges, n_samples)
        self.fn, self.interventions = fn, None if interventions is None else dict(interventions)

    def nodes(self):
        return [*(self.interventions or {}), *super().nodes()]

    def __call__(self, gen, data, random_state) -> float:
        seed = int(random_state)
        g = self.edited(gen, seed)
        if self.interventions:
            s = g.intervene(self.interventions, n_samples=self.n_samples, random_state=seed)
        else:
            s = g.sample(self.n_samples, random_state=seed)
        return self.fn(s)


# ============================================================================ result
#: Fewest replicates expected beyond each end of a percentile (or basic) interval before
#: :meth:`BootstrapResult.interval` warns. Measured on a linear mediation model with its
#: least-squares estimator (``benchmarks/bench_fairness.py --parts replicates``, 400 data
#: sets): a 95% percentile interval covered 88-89% from 20 replicates, 92% from 50 and
#: 93-94% from 100; the normal interval about 95% from 20 on.
MIN_TAIL_REPLICATES = 1.25


def _warn_few_replicates(name, n: int, level: float, method: str) -> None:
    tail = n * (1.0 - level) / 2.0
    if tail >= MIN_TAIL_REPLICATES - 1e-9:          # 1 - 0.9 is 0.0999...
        return
    need = math.ceil(MIN_TAIL_REPLICATES / ((1.0 - level) / 2.0) - 1e-9)
    warnings.warn(f"bootstrap: statistic {name!r}: a {level:.0%} {method} interval from {n} "
                  f"replicates is too short (they put {tail:.2g} expected replicates beyond "
                  f"each end; a 95% percentile interval from 20 replicates covers about 88%): "
                  f"use n_bootstrap >= {need}, or method='normal'", RuntimeWarning,
                  stacklevel=3)


@dataclass(frozen=True)
class BootstrapResult:
    """The refit bootstrap of one or more statistics.

    Attributes
    ----------
    estimate : dict
        ``{name: value}`` of the model fit on the full data (the point estimates).
    replicates : pandas.DataFrame
        One row per replicate (in replicate order), one column per statistic.
    seeds : tuple of int
        The ``random_state`` of each replicate's fit (replicate ``b`` can be rerun alone).
    confidence_level : float
    cluster : str or None
        The column whose groups were resampled whole (None: rows iid).
    """

    estimate: dict
    replicates: pd.DataFrame
    seeds: tuple
    confidence_level: float
    cluster: object = None

    def interval(self, name=None, confidence_level=None, method: str = "percentile"
                 ) -> tuple:
        """The interval ``(low, high)`` of statistic ``name`` (default: the only one).

        ``method="percentile"`` (default): the replicates' quantiles. ``"basic"``: the
        percentile interval reflected about the estimate, ``(2 est - q_high, 2 est -
        q_low)``, which removes a bias the replicates share with the estimator (an effect
        shrunk by the fit at small n). ``"normal"``: ``est +- z sd`` (steadier for small
        ``n_bootstrap``)."""
        name = self._name(name)
        level = self.confidence_level if confidence_level is None else confidence_level
        if isinstance(level, bool) or not isinstance(level, numbers.Real) \
                or not 0.0 < float(level) < 1.0:
            raise ValueError(f"confidence_level must be in (0, 1), got {level!r}")
        if method not in INTERVAL_METHODS:
            raise ValueError(f"method must be one of {INTERVAL_METHODS}, got {method!r}")
        level = float(level)
        values = self.replicates[name].to_numpy()
        est = self.estimate[name]
        if method != "normal":
            _warn_few_replicates(name, len(values), level, method)
        if method == "normal":
            from scipy.stats import norm
            half = float(norm.ppf((1 + level) / 2)) * float(values.std(ddof=1))
            return est - half, est + half
        lo, hi = (float(v) for v in np.quantile(values, [(1 - level) / 2, (1 + level) / 2]))
        if method == "basic":
            return 2 * est - hi, 2 * est - lo
        return lo, hi

    def _name(self, name):
        names = list(self.replicates.columns)
        if name is None:
            if len(names) != 1:
                raise ValueError(f"this result holds {len(names)} statistics {names}: name one")
            return names[0]
        if name not in names:
            raise KeyError(f"unknown statistic {name!r}; this result holds {names}")
        return name

    def summary(self, method: str = "percentile") -> pd.DataFrame:
        """One row per statistic: ``estimate`` (full-data fit), the replicates' ``mean`` and
        ``sd`` (ddof=1) and the interval ``low``, ``high`` (:meth:`interval`'s
        ``method``)."""
        rows = []
        for name in self.replicates.columns:
            v = self.replicates[name].to_numpy()
            lo, hi = self.interval(name, method=method)
            rows.append({"statistic": name, "estimate": self.estimate[name],
                         "mean": float(v.mean()), "sd": float(v.std(ddof=1)),
                         "low": lo, "high": hi})
        return pd.DataFrame(rows).set_index("statistic")


# ============================================================================ the bootstrap
def _statistics(statistic) -> dict:
    if isinstance(statistic, Mapping):
        if not statistic:
            raise ValueError("bootstrap: statistic is an empty dict")
        stats = dict(statistic)
    else:
        stats = {"statistic": statistic}
    for name, stat in stats.items():
        if isinstance(stat, type):
            raise TypeError(f"bootstrap: statistic {name!r} is the class {stat.__name__}, not "
                            f"an instance: pass e.g. {stat.__name__}('treatment', 'outcome')")
        if not callable(stat):
            raise TypeError(f"bootstrap: statistic {name!r} must be callable "
                            f"(generator, data, random_state) -> float, got "
                            f"{type(stat).__name__}")
    return stats


def _evaluate(stats: dict, gen, data, seed: int, where: str) -> dict:
    seeds = np.random.SeedSequence(seed).generate_state(len(stats))
    out = {}
    for (name, stat), s in zip(stats.items(), seeds):
        try:
            value = float(stat(gen, data, int(s)))
        except Exception as exc:
            raise BootstrapError(f"bootstrap: {where}: statistic {name!r} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
        if not np.isfinite(value):
            raise BootstrapError(f"bootstrap: {where}: statistic {name!r} is not finite "
                                 f"({value})")
        out[name] = value
    return out


def _fit_clone(estimator, frame, groups, seed: int):
    """A clone of ``estimator`` fitted on ``frame`` with ``random_state=seed``; ``groups``
    (the resample's original rows) keep duplicates on one side of the validation split.
    Only the full-data fit (``groups`` None) warns when training ends on the epoch limit;
    the replicates share its settings, so one warning says it for all."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    est = clone(estimator).set_params(random_state=int(seed), progress_bar=False)
    if groups is None:
        return est.fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(frame, groups=groups)


def _seeds(seed: np.random.SeedSequence) -> tuple:
    """``(fit random_state, statistics seed)`` of a fit (the point estimate's or a
    replicate's) from its child of the bootstrap's SeedSequence."""
    fit_seed, stat_seed = (int(v) for v in seed.generate_state(2, dtype=np.uint32))
    return fit_seed % (2**31 - 1), stat_seed


def _replicate(estimator, data: pd.DataFrame, fit_columns: list, groups, stats: dict,
               seed: np.random.SeedSequence, index: int, total: int) -> dict:
    """Replicate ``index``: its resample, its fit and its statistics, all from ``seed``."""
    fit_seed, stat_seed = _seeds(seed)
    where = (f"replicate {index} of {total} (fit random_state={fit_seed}, seed spawn key "
             f"{seed.spawn_key})")
    rows = resample_rows(np.random.default_rng(seed), len(data), groups)
    frame = data.iloc[rows].reset_index(drop=True)
    try:
        gen = _fit_clone(estimator, frame[fit_columns], rows, fit_seed)
    except Exception as exc:
        raise BootstrapError(f"bootstrap: {where}: the fit failed: {type(exc).__name__}: "
                             f"{exc}") from exc
    return {"values": _evaluate(stats, gen, frame[fit_columns], stat_seed, where),
            "seed": fit_seed}


def bootstrap(estimator, data: pd.DataFrame, statistic, *, n_bootstrap: int = 100,
              cluster=None, confidence_level: float = 0.95, random_state=None,
              n_jobs: int = 1, progress_bar=None) -> BootstrapResult:
    """The refit bootstrap of ``statistic`` (see the module docstring).

    Parameters
    ----------
    estimator : CCGMGenerator
        Its parameters define every refit (its own ``random_state`` is replaced by each
        replicate's seed). If it is fitted, its model gives the point estimate; otherwise
        a clone is fitted on ``data`` for it.
    data : pandas.DataFrame
        The training data (the graph's nodes, and the ``cluster`` column if it is not a
        node: it is used for resampling only).
    statistic : callable or dict of callables
        ``statistic(generator, data, random_state) -> float``, e.g. :class:`NaiveATE`,
        :class:`DoATE`, :class:`EffectOnTreated`, :class:`OnGenerated`; a dict computes
        several from the same refits.
    n_bootstrap : int, default 100
        Number of refits (at least 2).
    cluster : str, optional
        Column whose groups are resampled whole (e.g. the school); None: rows iid.
    confidence_level : float, default 0.95
        Of the percentile intervals (:meth:`BootstrapResult.interval`).
    random_state : None, int, numpy SeedSequence or Generator
        One seed for everything: the point fit (when ``estimator`` is unfitted) uses child
        0 of ``SeedSequence(random_state)``, replicate ``b`` child ``b + 1``.
    n_jobs : int, default 1
        joblib workers (under ``joblib.parallel_backend("dask")`` the cluster's). Results
        do not depend on it.
    progress_bar : bool, optional
        ``None`` follows ``dowhy.gcm.config.show_progress_bars``.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    BootstrapError
        When a replicate's fit or statistic fails or is not finite; the message names the
        replicate, its fit's ``random_state`` and its seed's spawn key.
    """
    from joblib import Parallel, delayed

    from ._progress import progress_bar as bar, show_progress
    from ._generator import CCGMGenerator
    if not isinstance(estimator, CCGMGenerator):
        raise TypeError("bootstrap: estimator must be a CCGMGenerator, got "
                        f"{type(estimator).__name__}")
    check_n_bootstrap(n_bootstrap, "bootstrap")
    if isinstance(confidence_level, bool) or not isinstance(confidence_level, numbers.Real) \
            or not 0.0 < float(confidence_level) < 1.0:
        raise ValueError(f"bootstrap: confidence_level must be in (0, 1), got "
                         f"{confidence_level!r}")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"bootstrap: data must be a pandas DataFrame, got "
                        f"{type(data).__name__}")
    if len(data) == 0:
        raise ValueError("bootstrap: data has no rows")
    stats = _statistics(statistic)
    graph = estimator.get_params(deep=False)["graph"]
    if graph is None:
        raise ValueError("bootstrap: the estimator has no graph (CCGMGenerator(graph=...)): "
                         "every refit needs one")
    for name, stat in stats.items():
        check = getattr(stat, "check", None)
        if check is not None and graph is not None:
            check(graph)
    groups = cluster_groups(data, cluster, "bootstrap")
    fit_columns = [c for c in data.columns if c != cluster or c in graph.nodes]

    children = seed_sequence(random_state).spawn(int(n_bootstrap) + 1)
    fit_seed, stat_seed = _seeds(children[0])
    point_gen = estimator if hasattr(estimator, "model_") else _fit_clone(
        estimator, data[fit_columns], None, fit_seed)
    point = _evaluate(stats, point_gen, data[fit_columns], stat_seed, "point estimate")

    total = int(n_bootstrap)
    tasks = (delayed(_replicate)(estimator, data, fit_columns, groups, stats, s, b, total)
             for b, s in enumerate(children[1:]))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    out = list(bar(results, total=total, disable=not show_progress(progress_bar),
                   desc="Refit bootstrap (CCGM)"))
    replicates = pd.DataFrame([r["values"] for r in out], columns=list(stats))
    replicates.index.name = "replicate"
    return BootstrapResult(point, replicates, tuple(r["seed"] for r in out),
                           float(confidence_level), cluster)
