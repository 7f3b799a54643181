"""Counterfactual fairness, fair features, fair data and path-specific effects from a
fitted :class:`~dowhy_ccgm.CCGMGenerator`.

* :func:`counterfactual_fairness` audits any predictor (a scikit-learn estimator or a
  callable on a DataFrame): for every unit, ``f(x) - f(x under A <- a')`` where ``x under
  A <- a'`` is the unit's own counterfactual (its noise abducted once, all units at once),
  summarised overall, by the protected group and intersectionally
  (Kusner et al. 2017's definition; DoWhy's counterfactual-fairness notebook reports the
  mean difference).
* :class:`FairFeatures` is a scikit-learn transformer: each unit's features in the
  counterfactual world where the protected attributes take a reference value (their
  expectation over ``n_draws`` abductions for discrete features), so any predictor after
  it in a ``Pipeline`` sees the same inputs whatever the unit's protected values.
  Kusner's "Level 3" (residuals of a linear model given the protected attributes) is the
  linear special case.
* :func:`fair_sample` generates de-biased data: the protected attributes keep their
  values and influence the other columns only along the ``allowed`` paths (none by
  default), the paper's edge removal generalised to paths.
* :func:`path_specific_effect` and :func:`natural_effects`: the effect of a treatment
  along named paths, natural direct and indirect effects (Pearl 2001) with any number of
  mediators, from nested counterfactuals that share the units' noise
  (:meth:`CCGMGenerator.path_specific`).

Intervals that include the fit: pass :class:`PathSpecificEffect` or
:class:`CounterfactualUnfairness` to :func:`dowhy_ccgm.bootstrap.bootstrap`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._codec import codes_of_labels
from .effects import check_effect_nodes, outcome_numbers
from ._utils import seed_from
from ._validation import check_fitted_generator

__all__ = ["counterfactual_fairness", "FairnessAudit", "FairFeatures", "AssociationTransport",
           "fair_sample",
           "path_specific_effect", "natural_effects", "PathSpecificEffect",
           "CounterfactualUnfairness", "demographic_parity"]


# ============================================================================ helpers
def _check_gen(gen, caller: str):
    check_fitted_generator(gen, caller)


def _as_list(names, what: str, gen) -> list:
    names = [names] if isinstance(names, str) or not hasattr(names, "__iter__") else \
        list(names)
    if not names:
        raise ValueError(f"{what}: name at least one node")
    for n in names:
        if n not in gen.nodes_:
            raise KeyError(f"{what}: unknown node {n!r}; the model's nodes are {gen.nodes_}")
    return names


def _predict(predictor, frame: pd.DataFrame) -> np.ndarray:
    """Scores of a predictor on a frame: ``predict_proba[:, 1]`` for a binary classifier,
    ``predict`` otherwise, or the callable's output."""
    if hasattr(predictor, "predict_proba") and getattr(predictor, "classes_", None) is not None \
            and len(predictor.classes_) == 2:
        out = predictor.predict_proba(frame)[:, 1]
    elif hasattr(predictor, "predict"):
        out = predictor.predict(frame)
    elif callable(predictor):
        out = predictor(frame)
    else:
        raise TypeError("predictor must be a fitted scikit-learn estimator or a callable "
                        f"on a DataFrame, got {type(predictor).__name__}")
    out = np.asarray(out, dtype=np.float64).reshape(-1)
    if out.shape[0] != len(frame):
        raise ValueError(f"the predictor returned {out.shape[0]} scores for {len(frame)} rows")
    return out


def _levels(gen, node, values):
    """The values a protected attribute is set to: given, or its categories."""
    spec = gen.schema_.by_name[node]
    if values is not None:
        return list(values)
    if spec.kind == "continuous":
        raise ValueError(f"protected attribute {node!r} is continuous: pass the values to "
                         "compare (values={node: [...]})")
    return list(spec.categories)


def _check_frame(X, caller: str) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame) or len(X) == 0:
        raise ValueError(f"{caller}: X must be a non-empty DataFrame of observed units")
    return X


# ============================================================================ audit
@dataclass(frozen=True)
class FairnessAudit:
    """The result of :func:`counterfactual_fairness`.

    ``differences``: one row per unit and counterfactual setting of the protected
    attributes, with the unit's factual values (``<A>``), the counterfactual ones
    (``<A>_cf``), ``score`` (factual prediction), ``score_cf`` and ``difference =
    score_cf - score``. ``summary``: the mean difference (DoWhy's notebook's measure),
    the mean and largest absolute difference and the share of units whose prediction
    moves by more than ``tolerance``. ``by_group``: the same per factual group (the
    intersection of the protected attributes' values) and counterfactual setting."""
    differences: pd.DataFrame
    summary: pd.Series
    by_group: pd.DataFrame
    tolerance: float

    @property
    def unfairness(self) -> float:
        """The mean absolute change of the prediction (0: counterfactually fair)."""
        return float(self.summary["mean_abs_difference"])

    def __repr__(self) -> str:
        s = self.summary
        return (f"FairnessAudit: mean |f(x_cf) - f(x)| = {s['mean_abs_difference']:.4g} "
                f"(mean {s['mean_difference']:+.4g}, max {s['max_abs_difference']:.4g}; "
                f"{s['share_changed']:.1%} of units move by more than {self.tolerance:g}) "
                f"over {int(s['n'])} unit-settings")


def _summarise(d: pd.Series, tol: float) -> pd.Series:
    a = d.abs()
    return pd.Series({"n": float(len(d)), "mean_difference": float(d.mean()),
                      "mean_abs_difference": float(a.mean()),
                      "max_abs_difference": float(a.max()),
                      "share_changed": float((a > tol).mean())})


def counterfactual_fairness(gen, predictor, X, protected, *, values: dict | None = None,
                            features=None, n_draws: int = 1, tolerance: float = 1e-6,
                            random_state=None) -> FairnessAudit:
    """Audit the counterfactual fairness of ``predictor`` with respect to ``protected``.

    For every unit of ``X`` and every other setting ``a'`` of the protected attributes
    (all combinations of their ``values``, default: their categories), the unit's
    counterfactual ``x_cf`` under ``do(A = a')`` is computed from its own abducted noise,
    and the predictor's change ``f(x_cf) - f(x)`` is recorded. A counterfactually fair
    predictor changes by 0 for every unit.

    Parameters
    ----------
    gen : fitted CCGMGenerator
    predictor : fitted scikit-learn estimator or callable
        Scored by ``predict_proba[:, 1]`` (binary classifiers), ``predict``, or called
        on the frame of ``features``.
    X : DataFrame
        The units (the model's columns).
    protected : node or list of nodes
    values : dict, optional
        ``{attribute: [values]}`` to compare (required for a continuous attribute).
    features : list of columns, optional
        The columns the predictor reads (default: its ``feature_names_in_``, else every
        column of ``X``).
    n_draws : int
        Abductions averaged per unit (a discrete node's noise is a posterior draw).
    tolerance : float
        A change larger than this counts in ``share_changed``.
    """
    _check_gen(gen, "counterfactual_fairness")
    X = _check_frame(X, "counterfactual_fairness")
    protected = _as_list(protected, "protected", gen)
    missing = [a for a in protected if a not in X.columns]
    if missing:
        raise ValueError(f"X has no column for the protected attributes {missing}")
    values = dict(values or {})
    unknown = [k for k in values if k not in protected]
    if unknown:
        raise KeyError(f"values names {unknown}, which are not protected attributes "
                       f"{protected}")
    if features is None:
        features = list(getattr(predictor, "feature_names_in_", X.columns))
    features = list(features)
    bad = [c for c in features if c not in X.columns]
    if bad:
        raise ValueError(f"features {bad} are not columns of X")
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    base = _predict(predictor, X[features])
    settings = list(itertools.product(*[_levels(gen, a, values.get(a)) for a in protected]))
    rng = np.random.default_rng(seed_from(random_state))
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, n_draws)]
    factual = X[protected].reset_index(drop=True)
    parts = []
    for setting in settings:
        same = np.ones(len(X), dtype=bool)
        for a, v in zip(protected, setting):
            same &= (X[a].to_numpy() == v)
        rows = np.flatnonzero(~same)
        if rows.size == 0:
            continue
        sub = X.iloc[rows]
        score = np.zeros(rows.size)
        for seed in seeds:     # the same abductions for every setting
            cf = gen.counterfactual(sub, dict(zip(protected, setting)), random_state=seed)
            score += _predict(predictor, cf[features])
        score /= n_draws
        part = factual.iloc[rows].copy()
        for a, v in zip(protected, setting):
            part[f"{a}_cf"] = v
        part["score"] = base[rows]
        part["score_cf"] = score
        part["difference"] = score - base[rows]
        part.index = X.index[rows]
        parts.append(part)
    if not parts:
        raise ValueError("every unit already has every compared setting of the protected "
                         "attributes: nothing to compare")
    diffs = pd.concat(parts)
    keys = protected + [f"{a}_cf" for a in protected]
    by_group = diffs.groupby(keys, dropna=False)["difference"].apply(
        lambda d: _summarise(d, tolerance)).unstack()
    return FairnessAudit(diffs, _summarise(diffs["difference"], tolerance), by_group,
                         float(tolerance))


def demographic_parity(scores, groups) -> float:
    """The largest difference of the mean score (or positive rate) between groups."""
    s = pd.Series(np.asarray(scores, dtype=np.float64))
    means = s.groupby(np.asarray(groups)).mean()
    return float(means.max() - means.min())


# ============================================================================ features
#: the fewest rows of a protected group a transport learns its distributions from
TRANSPORT_MIN_ROWS = 20
#: ``associations`` of :class:`FairFeatures`
ASSOCIATIONS = ("keep", "transport")


class AssociationTransport:
    """The protected attributes' association with the graph's other roots, removed by
    moving each unit's roots to the reference group.

    Removing every path from a protected attribute leaves its association with the roots
    it does not cause: in UCI Adult, women are younger than men, and ``sex`` does not
    cause ``age`` in the graph. Counterfactually fair inputs keep that association (it is
    not an effect of ``sex``), so a downstream predictor still differs between the groups
    (``ccgm fairness``: the "fair-world test inputs" rows with and without it, in
    ``docs/fairness.md``). Demographic parity asks for more: this transport maps each
    root's value to the same rank in the reference group's distribution, learned from
    a frame (``fit``): ``u = F_g(x-) + V (F_g(x) - F_g(x-))`` with ``V`` uniform (ties and a
    discrete root's levels, in their code order), then the reference group's quantile
    ``F_ref^-1(u)``. Units of the reference group keep their values. One root at a time:
    the roots' dependence on each other within a group is not kept.

    Parameters
    ----------
    gen : fitted CCGMGenerator
    protected : list of nodes
    reference : dict
        ``{attribute: value}`` for every protected attribute (the reference group).
    """

    def __init__(self, gen, protected, reference: dict):
        _check_gen(gen, "AssociationTransport")
        self.gen = gen
        self.protected = _as_list(protected, "AssociationTransport: protected", gen)
        if not isinstance(reference, dict):
            raise TypeError(f"AssociationTransport: reference must be a dict {{attribute: "
                            f"value}}, got {type(reference).__name__}")
        missing = [a for a in self.protected if a not in reference]
        if missing:
            raise ValueError(f"AssociationTransport: reference has no value for the "
                             f"protected attribute(s) {missing}")
        self.reference = dict(reference)
        desc = set().union(*(nx.descendants(gen.graph_, a) for a in self.protected))
        self.roots = [v for v in gen.nodes_ if gen.graph_.in_degree(v) == 0
                      and v not in self.protected and v not in desc]

    def _keys(self, X: pd.DataFrame, caller: str) -> pd.Series:
        missing = [a for a in self.protected + self.roots if a not in X.columns]
        if missing:
            raise ValueError(f"{caller}: X has no column(s) {missing} (the protected "
                             "attributes and the roots they are associated with)")
        for c in self.protected + self.roots:
            if X[c].isna().any():
                raise ValueError(f"{caller}: column {c!r} has missing cells; the transport "
                                 "needs every unit's protected attributes and roots")
        return pd.Series(list(zip(*(X[a].to_numpy() for a in self.protected))),
                         index=X.index)

    def _numbers(self, node, values) -> np.ndarray:
        spec = self.gen.schema_.by_name[node]
        if spec.kind == "continuous":
            return np.asarray(values, dtype=np.float64)
        return codes_of_labels(spec, np.asarray(values)).astype(np.float64)

    def fit(self, X: pd.DataFrame) -> "AssociationTransport":
        """Learn each group's distribution of every root from the rows of ``X`` (groups of
        fewer than ``TRANSPORT_MIN_ROWS`` rows are left out; the reference group must not
        be)."""
        keys = self._keys(X, "AssociationTransport.fit")
        self.ref_key_ = tuple(self.reference[a] for a in self.protected)
        self.sorted_ = {}
        for key, rows in keys.groupby(keys, sort=False).groups.items():
            if len(rows) < TRANSPORT_MIN_ROWS:
                continue
            self.sorted_[key] = {r: np.sort(self._numbers(r, X.loc[rows, r]))
                                 for r in self.roots}
        if self.ref_key_ not in self.sorted_:
            raise ValueError(f"AssociationTransport.fit: the reference group "
                             f"{dict(zip(self.protected, self.ref_key_))} has fewer than "
                             f"{TRANSPORT_MIN_ROWS} rows in X")
        return self

    def transform(self, X: pd.DataFrame, random_state=None) -> dict:
        """``{root: each unit's transported value}`` (labels for a discrete root)."""
        keys = self._keys(X, "AssociationTransport.transform")
        rng = np.random.default_rng(seed_from(random_state))
        groups = [(key, rows) for key, rows in keys.groupby(keys, sort=False).indices.items()
                  if key != self.ref_key_]
        for key, _ in groups:
            if key not in self.sorted_:
                raise ValueError(f"AssociationTransport.transform: the group "
                                 f"{dict(zip(self.protected, key))} had fewer than "
                                 f"{TRANSPORT_MIN_ROWS} rows when it was fitted")
        out = {}
        for r in self.roots:
            spec = self.gen.schema_.by_name[r]
            x = self._numbers(r, X[r])
            new = x.copy()
            ref = self.sorted_[self.ref_key_][r]
            for key, rows in groups:
                own = self.sorted_[key][r]
                lo = np.searchsorted(own, x[rows], "left")
                hi = np.searchsorted(own, x[rows], "right")
                u = (lo + (hi - lo) * rng.random(len(rows))) / len(own)
                new[rows] = ref[np.minimum((u * len(ref)).astype(np.int64), len(ref) - 1)]
            if spec.kind == "continuous":
                out[r] = new
            else:
                labels = np.empty(len(spec.categories), dtype=object)
                labels[:] = spec.categories
                out[r] = labels[new.astype(np.int64)]
        return out


class FairFeatures(TransformerMixin, BaseEstimator):
    """Features that do not depend on the protected attributes: each unit's features in
    its own counterfactual world where every protected attribute takes its ``reference``
    value.

    Parameters
    ----------
    generator : CCGMGenerator
        Fitted (used as is) or not (a clone is fitted on ``fit``'s ``X``).
    protected : node or list of nodes
    reference : dict, optional
        ``{attribute: value}``; default: each attribute's most frequent value in ``fit``'s
        ``X``.
    features : list of columns, optional
        The output columns (default: every column but the protected ones).
    associations : {"keep", "transport"}, default="keep"
        ``"transport"`` also removes the protected attributes' association with the roots
        they do not cause (:class:`AssociationTransport`, learned on ``fit``'s ``X``): the
        features then aim at demographic parity, not only at counterfactual fairness.
    n_draws : int, default=1
        Abductions averaged per unit (a binary feature's probability, a categorical one's
        level probabilities as ``<col>=<level>`` columns, a count's mean). Keep 1 when a
        feature is discrete, an integer or on a lattice: a unit at the reference value is
        its own counterfactual, so its averaged features stay on the lattice while the
        other units' become fractional, and a flexible predictor reads the protected group
        back from that (measured: ``benchmarks/bench_fairness.py``).
    random_state : int or None
        Seeds the abductions (the same draws for every call, so ``transform`` is a
        function of the unit).

    Notes
    -----
    A unit that differs only in its protected attributes is mapped to the same features
    (up to the model's error): that is what makes the downstream predictor
    counterfactually fair. The protected attributes' influence on a feature is removed
    along every path; to keep some paths, generate data with :func:`fair_sample` instead.
    """

    def __init__(self, generator=None, protected=None, reference=None, features=None,
                 associations: str = "keep", n_draws: int = 1, random_state=0):
        self.generator = generator
        self.protected = protected
        self.reference = reference
        self.features = features
        self.associations = associations
        self.n_draws = n_draws
        self.random_state = random_state

    def fit(self, X, y=None):
        X = _check_frame(X, "FairFeatures.fit")
        if self.generator is None:
            raise ValueError("FairFeatures needs a generator (a CCGMGenerator)")
        gen = self.generator
        try:
            check_is_fitted(gen)
        except NotFittedError:
            gen = clone(gen).fit(X)
        protected = _as_list(self.protected, "FairFeatures: protected", gen)
        reference = dict(self.reference or {})
        for a in protected:
            if a not in reference:
                if a not in X.columns:
                    raise ValueError(f"FairFeatures: X has no column {a!r} to take its "
                                     "reference value from; pass reference={...}")
                reference[a] = X[a].mode(dropna=True).iloc[0]
        features = [c for c in gen.nodes_ if c not in protected] if self.features is None \
            else list(self.features)
        bad = [c for c in features if c not in gen.nodes_ or c in protected]
        if bad:
            raise ValueError(f"FairFeatures: features {bad} are not non-protected nodes of "
                             "the model")
        if isinstance(self.n_draws, bool) or not isinstance(self.n_draws, (int, np.integer)) \
                or self.n_draws < 1:
            raise ValueError(f"FairFeatures: n_draws must be a positive integer, got "
                             f"{self.n_draws!r}")
        if self.associations not in ASSOCIATIONS:
            raise ValueError(f"FairFeatures: associations must be one of {ASSOCIATIONS}, "
                             f"got {self.associations!r}")
        self.generator_ = gen
        self.protected_ = protected
        self.reference_ = reference
        self.features_ = features
        self.transport_ = None if self.associations == "keep" else \
            AssociationTransport(gen, protected, reference).fit(X)
        specs = gen.schema_.by_name
        names = []
        for c in features:
            if specs[c].kind == "categorical":
                names += [f"{c}={lvl}" for lvl in specs[c].categories]
            else:
                names.append(c)
        self.feature_names_out_ = names
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "generator_")
        X = _check_frame(X, "FairFeatures.transform")
        gen, specs = self.generator_, self.generator_.schema_.by_name
        rng = np.random.default_rng(seed_from(self.random_state))
        out = pd.DataFrame(0.0, index=X.index, columns=self.feature_names_out_)
        for seed in rng.integers(0, 2**31 - 1, int(self.n_draws)):
            do = dict(self.reference_)
            if self.transport_ is not None:
                do.update(self.transport_.transform(X, random_state=int(seed)))
            cf = gen.counterfactual(X, do, random_state=int(seed))
            for c in self.features_:
                spec = specs[c]
                if spec.kind == "continuous":
                    out[c] += cf[c].to_numpy(dtype=np.float64)
                elif spec.kind == "binary":
                    out[c] += codes_of_labels(spec, cf[c].to_numpy()).astype(np.float64)
                else:
                    codes = codes_of_labels(spec, cf[c].to_numpy())
                    for k, lvl in enumerate(spec.categories):
                        out[f"{c}={lvl}"] += (codes == k).astype(np.float64)
        return out / float(self.n_draws)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "generator_")
        return np.asarray(self.feature_names_out_, dtype=object)


# ============================================================================ fair data
def fair_sample(gen, protected, n_samples: int, *, reference: dict | None = None,
                allowed=(), independent: bool = True, random_state=None) -> pd.DataFrame:
    """De-biased data: ``n_samples`` new units whose protected attributes reach the other
    columns only along the ``allowed`` paths (lists of nodes starting at a protected
    attribute; none by default); along every other path the other columns see the
    ``reference`` value (default: each attribute's most frequent value in the model's own
    samples).

    ``independent=True`` (the default) also draws the protected attributes independently
    of every other column, from their own (joint) marginal: in real data a protected
    attribute is associated with other roots (in Adult, women are younger than men), an
    association no path removal touches but a downstream classifier reads as a group
    gap. ``False`` keeps each generated unit's own protected values (the roots' joint
    law, as ``sample`` draws it)."""
    _check_gen(gen, "fair_sample")
    protected = _as_list(protected, "protected", gen)
    reference = dict(reference or {})
    seed = seed_from(random_state)
    interventions = None
    if independent or any(a not in reference for a in protected):
        draw = gen.sample(int(n_samples), random_state=seed)
        for a in protected:
            reference.setdefault(a, draw[a].mode().iloc[0])
        if independent:          # the attributes' joint values, in an independent order
            perm = np.random.default_rng(seed).permutation(len(draw))
            interventions = {a: draw[a].to_numpy()[perm] for a in protected}
    return gen.path_specific(reference, list(allowed), interventions=interventions,
                             n_samples=n_samples, random_state=random_state)


# ============================================================================ effects
def _path_sets(gen, treatment, outcome) -> dict:
    """The named path sets from ``treatment`` to ``outcome``: ``"all"``, ``"direct"`` (the
    edge alone, empty without one) and ``"indirect"`` (every path through a mediator)."""
    every = [list(p) for p in nx.all_simple_paths(gen.model_.graph(), treatment, outcome)]
    if not every:
        raise ValueError(f"no directed path from {treatment!r} to {outcome!r}: the effect is 0 "
                         "by the graph")
    return {"all": every, "direct": [p for p in every if len(p) == 2],
            "indirect": [p for p in every if len(p) > 2]}


def _effect_along(gen, treatment, outcome, paths, treated, control, X, n_samples,
                  random_state) -> float:
    """``E[Y(treated along paths, control along the rest)] - E[Y(control)]`` (checked
    arguments, ``paths`` a list)."""
    seed = seed_from(random_state)
    kw = (dict(X=X, random_state=seed) if X is not None
          else dict(n_samples=n_samples, random_state=seed))
    ref = {treatment: control}
    spec = gen.schema_.by_name[outcome]
    y_path = gen.path_specific(ref, paths, interventions={treatment: treated}, **kw)
    y_ref = gen.path_specific(ref, [], interventions={treatment: control}, **kw)
    return float(np.mean(outcome_numbers(y_path[outcome], spec)
                         - outcome_numbers(y_ref[outcome], spec)))


def path_specific_effect(gen, treatment, outcome, paths, treated=1, control=0, *, X=None,
                         n_samples: int = 200_000, random_state=None) -> float:
    """``E[Y(treated along paths, control along the rest)] - E[Y(control)]``.

    ``paths``: lists of nodes from ``treatment`` (to ``outcome``); ``"direct"`` is the
    edge alone, ``"indirect"`` every other path, ``"all"`` every path (the total effect).
    Over the units of ``X`` (their own nested counterfactuals) when given, else over
    ``n_samples`` new units; both worlds share the noise (common random numbers)."""
    check_effect_nodes(gen, treatment, outcome)
    named = _path_sets(gen, treatment, outcome)
    if isinstance(paths, str):
        if paths not in named:
            raise ValueError(f"paths must be a list of paths or one of {sorted(named)}, got "
                             f"{paths!r}")
        if paths == "direct" and not named["direct"]:
            raise ValueError(f"there is no edge {treatment!r} -> {outcome!r}: the direct "
                             "effect is 0 by the graph")
        paths = named[paths]
    return _effect_along(gen, treatment, outcome, paths, treated, control, X, n_samples,
                         random_state)


def natural_effects(gen, treatment, outcome, treated=1, control=0, *, X=None,
                    n_samples: int = 200_000, random_state=None) -> pd.Series:
    """The total effect and its split (Pearl 2001): the natural direct effect
    ``E[Y(t1, M(t0))] - E[Y(t0)]`` (the edge ``treatment -> outcome`` alone) and the
    natural indirect effect ``E[Y(t0, M(t1))] - E[Y(t0)]`` (every path through the
    mediators, however many). They add up to the total when the mechanisms do not
    interact; the difference is reported as ``interaction``."""
    check_effect_nodes(gen, treatment, outcome)
    named = _path_sets(gen, treatment, outcome)
    eff = {k: _effect_along(gen, treatment, outcome, named[k], treated, control, X,
                            n_samples, random_state) if named[k] else 0.0
           for k in ("all", "direct", "indirect")}
    return pd.Series({"total": eff["all"], "direct": eff["direct"],
                      "indirect": eff["indirect"],
                      "interaction": eff["all"] - eff["direct"] - eff["indirect"]},
                     name=f"{treatment} -> {outcome}")


# ============================================================================ bootstrap
class PathSpecificEffect:
    """A statistic for :func:`dowhy_ccgm.bootstrap.bootstrap`: :func:`path_specific_effect`
    (``paths`` a list, or ``"direct"``, ``"indirect"``, ``"all"``), over the replicate's own
    units when ``on_data`` (else over ``n_samples`` new units)."""

    def __init__(self, treatment, outcome, paths, treated=1, control=0, *,
                 n_samples: int = 100_000, on_data: bool = False):
        self.treatment, self.outcome, self.paths = treatment, outcome, paths
        self.treated, self.control = treated, control
        self.n_samples, self.on_data = int(n_samples), bool(on_data)

    def nodes(self):
        return [self.treatment, self.outcome]

    def check(self, graph) -> None:
        for v in self.nodes():
            if v not in graph.nodes:
                raise KeyError(f"PathSpecificEffect: unknown node {v!r}")

    def __call__(self, gen, data, random_state) -> float:
        return path_specific_effect(gen, self.treatment, self.outcome, self.paths,
                                    self.treated, self.control,
                                    X=data if self.on_data else None,
                                    n_samples=self.n_samples, random_state=int(random_state))

    def __repr__(self):
        return (f"PathSpecificEffect({self.treatment!r}, {self.outcome!r}, {self.paths!r}, "
                f"{self.treated!r}, {self.control!r})")


class CounterfactualUnfairness:
    """A statistic for :func:`dowhy_ccgm.bootstrap.bootstrap`: the audit's mean absolute
    (``which="mean_abs_difference"``) or mean difference of a FIXED predictor over the
    replicate's units (the refits carry the model's uncertainty)."""

    def __init__(self, predictor, protected, *, which: str = "mean_abs_difference",
                 values: dict | None = None, features=None, n_draws: int = 1):
        if which not in ("mean_abs_difference", "mean_difference", "max_abs_difference",
                         "share_changed"):
            raise ValueError(f"CounterfactualUnfairness: unknown summary {which!r}")
        self.predictor, self.protected, self.which = predictor, protected, which
        self.values, self.features, self.n_draws = values, features, n_draws

    def nodes(self):
        return [self.protected] if isinstance(self.protected, str) else list(self.protected)

    def check(self, graph) -> None:
        for v in self.nodes():
            if v not in graph.nodes:
                raise KeyError(f"CounterfactualUnfairness: unknown node {v!r}")

    def __call__(self, gen, data, random_state) -> float:
        audit = counterfactual_fairness(gen, self.predictor, data, self.protected,
                                        values=self.values, features=self.features,
                                        n_draws=self.n_draws, random_state=int(random_state))
        return float(audit.summary[self.which])

    def __repr__(self):
        return f"CounterfactualUnfairness(protected={self.protected!r}, which={self.which!r})"
