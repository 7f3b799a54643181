"""Treatment effects from a fitted :class:`~dowhy_ccgm.CCGMGenerator`: the ATE (population
level, from interventions), the effect on the treated (ATT) and effects in subgroups (CATE),
both from the units' own counterfactuals (exact abduction).

* :func:`average_effect`: ``E[Y | do(T=treated)] - E[Y | do(T=control)]`` over new units,
  both arms with the same noise (common random numbers), so the difference carries the
  model's effect, not the sampling noise of two independent draws.
* :func:`effect_on_treated`: ``mean over the treated units of Y_i(treated) - Y_i(control)``,
  each unit's counterfactual outcomes computed from its own abducted noise. The treated
  arm reproduces the unit's observed outcome.
* :func:`subgroup_effects`: the same unit-level difference averaged within groups.

The estimates are point estimates of the fitted model; their uncertainty, fit included,
comes from refitting on resamples: :func:`dowhy_ccgm.bootstrap.bootstrap` with
:class:`~dowhy_ccgm.bootstrap.DoATE` or
:class:`~dowhy_ccgm.bootstrap.EffectOnTreated`. A discrete node's abducted noise is a
draw from its posterior interval: ``n_draws`` averages several.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._codec import codes_of_labels
from ._utils import seed_from
from ._validation import check_fitted_generator

__all__ = ["average_effect", "effect_on_treated", "subgroup_effects", "unit_effects"]


def check_effect_nodes(gen, treatment, outcome):
    """A fitted generator, known and distinct treatment and outcome nodes, an outcome
    whose difference of means is defined (shared by :mod:`dowhy_ccgm.fairness`)."""
    check_fitted_generator(gen)
    for role, node in (("treatment", treatment), ("outcome", outcome)):
        if node not in gen.nodes_:
            raise KeyError(f"unknown {role} node {node!r}; the model's nodes are {gen.nodes_}")
    if treatment == outcome:
        raise ValueError(f"treatment and outcome are the same node {treatment!r}")
    if gen.schema_.by_name[outcome].kind == "categorical":
        raise ValueError(f"outcome {outcome!r} is categorical (more than two categories): a "
                         "difference of means is not defined; use a binary or continuous "
                         "outcome")


def outcome_numbers(values, spec) -> np.ndarray:
    """An outcome's values as numbers (shared by :mod:`dowhy_ccgm.fairness`)."""
    if spec.kind == "continuous":
        return np.asarray(values, dtype=np.float64)
    # a binary outcome: its second category counts as 1 (the codec's label codes)
    return codes_of_labels(spec, np.asarray(values)).astype(np.float64)


def average_effect(gen, treatment, outcome, treated=1, control=0, *, n_samples: int = 200_000,
                   random_state=None) -> float:
    """``E[outcome | do(treatment=treated)] - E[outcome | do(treatment=control)]`` of the
    model (the interventional ATE), both arms drawn with the same noise."""
    check_effect_nodes(gen, treatment, outcome)
    seed = seed_from(random_state)
    spec = gen.schema_.by_name[outcome]
    arms = [gen.intervene({treatment: v}, n_samples=n_samples, random_state=seed)[outcome]
            for v in (treated, control)]
    return float(np.mean(outcome_numbers(arms[0], spec) - outcome_numbers(arms[1], spec)))


def unit_effects(gen, X, treatment, outcome, treated=1, control=0, *, n_draws: int = 1,
                 random_state=None) -> pd.Series:
    """Each unit's ``Y_i(treated) - Y_i(control)`` from its own counterfactuals (the mean
    over ``n_draws`` abductions; indexed like ``X``)."""
    check_effect_nodes(gen, treatment, outcome)
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    if not isinstance(X, pd.DataFrame) or len(X) == 0:
        raise ValueError("X must be a non-empty DataFrame of observed units")
    spec = gen.schema_.by_name[outcome]
    rng = np.random.default_rng(seed_from(random_state))
    total = np.zeros(len(X))
    for _ in range(int(n_draws)):
        seed = int(rng.integers(0, 2**31 - 1))   # the same abduction for both arms
        y1 = gen.counterfactual(X, {treatment: treated}, random_state=seed)[outcome]
        y0 = gen.counterfactual(X, {treatment: control}, random_state=seed)[outcome]
        total += outcome_numbers(y1, spec) - outcome_numbers(y0, spec)
    return pd.Series(total / n_draws, index=X.index, name=f"effect of {treatment} on {outcome}")


def effect_on_treated(gen, X, treatment, outcome, treated=1, control=0, *, n_draws: int = 1,
                      random_state=None) -> float:
    """The ATT: the mean of ``Y_i(treated) - Y_i(control)`` over the units of ``X`` whose
    observed treatment is ``treated``."""
    check_effect_nodes(gen, treatment, outcome)
    if treatment not in getattr(X, "columns", []):
        raise ValueError(f"X has no column for the treatment {treatment!r}")
    mask = X[treatment].to_numpy() == treated
    if not mask.any():
        raise ValueError(f"no unit of X has {treatment!r} == {treated!r}: the effect on the "
                         "treated is undefined")
    return float(unit_effects(gen, X[mask], treatment, outcome, treated, control,
                              n_draws=n_draws, random_state=random_state).mean())


def subgroup_effects(gen, X, treatment, outcome, by, treated=1, control=0, *,
                     n_draws: int = 1, random_state=None) -> pd.DataFrame:
    """Effects within groups of units (CATE): ``by`` is a column of ``X`` or one label per
    unit. Returns a frame indexed by group with ``n`` and ``effect``."""
    if isinstance(by, str) and by in getattr(X, "columns", []):
        labels = X[by].to_numpy()
    elif isinstance(by, str):
        raise KeyError(f"by={by!r} is not a column of X (its columns: {list(X.columns)}); "
                       "give a column name of X or one label per unit")
    else:
        if isinstance(by, pd.Series):       # labels belong to units by index, not position
            if not by.index.equals(X.index):
                missing = X.index.difference(by.index)
                if len(missing):
                    raise ValueError(f"by (a Series) has no label for {len(missing)} units of X "
                                     f"(e.g. index {missing[0]!r}); it is read by X's index")
                by = by.reindex(X.index)
        labels = np.asarray(by)
        if labels.ndim != 1 or len(labels) != len(X):
            raise ValueError(f"by has {labels.size} labels for {len(X)} units (give a column "
                             "name of X or one label per unit)")
    na = pd.isna(labels)
    if np.any(na):
        raise ValueError(f"by has {int(np.sum(na))} missing labels (NaN/None): those units "
                         "would drop out of every group; fill them (e.g. with a label of "
                         "their own) or leave those units out of X")
    effects = unit_effects(gen, X, treatment, outcome, treated, control, n_draws=n_draws,
                           random_state=random_state)
    labels = pd.Series(labels, index=X.index)
    out = effects.groupby(labels.to_numpy()).agg(["size", "mean"])
    out.columns = ["n", "effect"]
    out.index.name = by if isinstance(by, str) else "group"
    return out
