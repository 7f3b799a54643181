"""Remove an edge from a fitted dowhy.gcm causal model without refitting it.

:func:`remove_edge` returns a *new* fitted causal model (same class as the input) whose graph lacks
the edge ``parent -> child``. Every mechanism is a deep copy of the original fitted one; the
child's mechanism is wrapped in an *edge-removed* mechanism that receives the child's remaining
parents (in DoWhy's sorted-predecessor order), re-inserts a column for the removed parent at its
original position and calls the original fitted mechanism. The inserted column is

* ``how="marginal"``: for sampling (``draw_samples``, hence ``gcm.draw_samples``,
  ``gcm.interventional_samples``, ``gcm.average_causal_effect``, ``gcm.arrow_strength``) an
  independent random draw per row from a stored sample of the parent's marginal distribution
  (``data[parent]`` if ``data`` is given, otherwise 10,000 samples drawn from the original model).
  Draws use numpy's global random state, so ``gcm.util.general.set_random_seed`` carries through.
  This is how ``gcm.arrow_strength`` removes an edge.
* ``how="mean"``: the parent's mean (continuous parents only; a binary (0/1, bool) or
  categorical parent raises a ``ValueError``: its mean is a value its child never saw; use
  ``"marginal"`` or an explicit category instead).

This is the package's one edge-removal policy (:mod:`dowhy_ccgm._removal`): the same default
``how``, pool size and unit-level meaning as ``CCGMGenerator.remove_edge`` and ``to_gcm``.
* ``how=<value>``: that fixed number or category.

Unit-level (noise) semantics under ``how="marginal"``
-----------------------------------------------------
DoWhy keeps a single scalar noise value per node, so the unit's own draw of the removed parent
cannot be stored next to the mechanism's noise. ``estimate_noise`` (abduction) and ``evaluate``
(prediction from noise) therefore both insert one fixed *reference value* of the removed parent:
its mean for a numeric parent, its most frequent value for a categorical one. Consequences:

* ``evaluate(parents, estimate_noise(y, parents)) == y`` exactly, so ``gcm.counterfactual_samples``
  reproduces the factual data under a no-op intervention and is deterministic;
* when the removed parent ``x`` enters additively (``Y = h(x) + g(z, N)``), counterfactual changes
  of the remaining parents ``z`` are exact: the reference value cancels out;
* functions that sample *through the noise* (``draw_noise_samples`` + ``evaluate``; e.g.
  ``gcm.intrinsic_causal_influence``, anomaly attribution, ``counterfactual_samples`` with
  ``noise_data``) see the mechanism with the removed parent pinned at the reference value, i.e.
  ``how="mean"`` behaviour, not the extra spread that the marginal draws add in ``draw_samples``.

For ``how="mean"`` and ``how=<value>`` both levels insert the same constant, so they agree.

Wrapper classes follow the type of the original mechanism so DoWhy's ``isinstance`` checks pass:
invertible FCMs (e.g. ``AdditiveNoiseModel``) stay invertible, FCMs stay FCMs, general conditional
stochastic models stay such, and probability estimators (e.g. ``ClassifierFCM``) keep
``estimate_probabilities`` (under ``"marginal"`` averaged over the parent's marginal), which
``gcm.arrow_strength`` uses for categorical targets. If the removed parent was the child's only
parent, the child becomes a root node and gets a ``StochasticModel`` wrapper.

``clone()`` of a wrapper returns an unfitted equivalent: it wraps ``original.clone()`` with the
same insertion rule. ``fit(X, Y)`` fits the wrapped mechanism on ``X`` with the inserted column
added (marginal draws / the constant), i.e. a refit on the reduced graph.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any, Optional

import networkx as nx
import numpy as np
import pandas as pd
from dowhy.gcm import draw_samples as _gcm_draw_samples
from dowhy.gcm.causal_mechanisms import (
    ConditionalStochasticModel,
    FunctionalCausalModel,
    InvertibleFunctionalCausalModel,
    ProbabilityEstimatorModel,
    StochasticModel,
)
from dowhy.gcm.causal_models import (
    CAUSAL_MECHANISM,
    PARENTS_DURING_FIT,
    ProbabilisticCausalModel,
)
from dowhy.gcm.util.general import shape_into_2d
from dowhy.graph import get_ordered_predecessors

from .._removal import DEFAULT_HOW, POOL_SIZE, Insertion, check_mean_allowed, numpy_rows
from .._removal import parse_how as _parse_how

__all__ = [
    "remove_edge",
    "average_causal_effect",
    "EdgeRemovedMechanism",
    "EdgeRemovedFunctionalMechanism",
    "EdgeRemovedInvertibleMechanism",
    "EdgeRemovedRootMechanism",
]

#: Number of samples of the parent drawn from the original model when ``data`` is not given
#: (the package's one pool size, :data:`dowhy_ccgm._removal.POOL_SIZE`).
NUM_MARGINAL_SAMPLES = POOL_SIZE
#: Maximum number of support points used to average probabilities over the marginal.
_MAX_SUPPORT_POINTS = 64
#: Rows per call to the wrapped mechanism when averaging probabilities over the marginal.
_MAX_PROBABILITY_ROWS = 200_000
_MODES = ("marginal", "mean")


# --------------------------------------------------------------------------------------------
# Insertion rule shared by all wrappers
# --------------------------------------------------------------------------------------------
class _Insertion:
    """How the removed parent's column is filled: the package's one rule
    (:class:`dowhy_ccgm._removal.Insertion`) on the parent's values. Plain data: pickles,
    deep-copies cheaply."""

    def __init__(self, how: str, marginal: Optional[np.ndarray], constant: Any, reference: Any):
        self.how = how  # "marginal" | "mean" | "value"
        self.marginal = marginal  # 1-D sample of the parent (only for "marginal")
        self.constant = constant  # inserted value for "mean"/"value"
        self.reference = reference  # unit-level value (abduction / evaluate)
        self.support, self.weights = (None, None)
        if how == "marginal":
            self.support, self.weights = _support_points(marginal)

    @property
    def rule(self) -> Insertion:
        if self.how == "marginal":
            return Insertion("pool", self.marginal, self.reference)
        return Insertion("const", self.constant, self.reference)

    def sampled(self, n: int) -> np.ndarray:
        """Column used when sampling: marginal draws (global RNG) or the constant."""
        if self.how == "marginal":
            return self.rule.sampled(n, numpy_rows)
        return _constant_column(self.rule.sampled(n, numpy_rows), n)

    def unit_level(self, n: int) -> np.ndarray:
        """Column used in evaluate / estimate_noise (one fixed value, see module docstring)."""
        return _constant_column(self.rule.unit_level(), n)


def _constant_column(value: Any, n: int) -> np.ndarray:
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return np.full(n, value, dtype=float)
    column = np.empty(n, dtype=object)
    column[:] = [value] * n
    return column


def _support_points(values: np.ndarray):
    """Deterministic quadrature of the marginal: exact for few distinct values, else quantiles."""
    counts = pd.Series(values).value_counts(sort=False)
    if len(counts) <= _MAX_SUPPORT_POINTS:
        support = np.asarray(counts.index.to_numpy(), dtype=values.dtype)
        return support, counts.to_numpy(dtype=float) / counts.sum()
    levels = (np.arange(_MAX_SUPPORT_POINTS) + 0.5) / _MAX_SUPPORT_POINTS
    support = np.quantile(values, levels, method="inverted_cdf")
    return support, np.full(_MAX_SUPPORT_POINTS, 1.0 / _MAX_SUPPORT_POINTS)


# --------------------------------------------------------------------------------------------
# Wrapper mechanisms
# --------------------------------------------------------------------------------------------
class _EdgeRemovedBase:
    """Common code: column re-insertion and delegation to the wrapped (original) mechanism."""

    def __init__(
        self,
        mechanism: Any,
        removed_parent: Any,
        insert_position: int,
        num_full_parents: int,
        insertion: _Insertion,
    ):
        self._mechanism = mechanism
        self._removed_parent = removed_parent
        self._insert_position = int(insert_position)
        self._num_full_parents = int(num_full_parents)
        self._insertion = insertion

    # -- introspection -------------------------------------------------------------------
    @property
    def mechanism(self):
        """The wrapped mechanism, fitted on the original parents (including the removed one)."""
        return self._mechanism

    @property
    def removed_parent(self):
        return self._removed_parent

    @property
    def how(self) -> str:
        return self._insertion.how

    @property
    def inserted_value(self):
        """Constant inserted for "mean"/value; the unit-level reference value for "marginal"."""
        return self._insertion.reference

    # -- helpers ----------------------------------------------------------------------------
    def _full(self, parent_samples: Optional[np.ndarray], column: np.ndarray) -> np.ndarray:
        """Remaining parents (n, k-1) + removed column (n,) -> original parent layout (n, k)."""
        n = column.shape[0]
        if parent_samples is None:
            rest = np.empty((n, 0), dtype=column.dtype)
        else:
            rest = shape_into_2d(np.asarray(parent_samples))
            if rest.shape[1] != self._num_full_parents - 1:
                raise ValueError(
                    "Mechanism of the edge-removed node expects %d parent column(s), got %d."
                    % (self._num_full_parents - 1, rest.shape[1])
                )
        # Mimic what DoWhy hands a mechanism: a numeric array when all parents are numeric (or
        # all boolean), an object array otherwise.
        kinds = {rest.dtype.kind, column.dtype.kind} if rest.shape[1] else {column.dtype.kind}
        if kinds <= set("iuf") or kinds == {"b"}:
            dtype = np.result_type(rest.dtype, column.dtype)
        else:
            dtype = object
        full = np.empty((n, self._num_full_parents), dtype=dtype)
        keep = [i for i in range(self._num_full_parents) if i != self._insert_position]
        full[:, keep] = rest  # new inputs never modified in place (may be read-only)
        full[:, self._insert_position] = column
        return full

    def _n_rows(self, parent_samples: np.ndarray) -> int:
        return shape_into_2d(np.asarray(parent_samples)).shape[0]

    def _clone_kwargs(self):
        return dict(
            mechanism=self._mechanism.clone(),
            removed_parent=self._removed_parent,
            insert_position=self._insert_position,
            num_full_parents=self._num_full_parents,
            insertion=copy.deepcopy(self._insertion),
        )

    def clone(self):
        """Unfitted equivalent: wraps a clone of the original mechanism, same insertion rule."""
        return type(self)(**self._clone_kwargs())

    def __repr__(self) -> str:
        how = self.how if self.how != "value" else "value=%r" % (self._insertion.constant,)
        return "%s(%s without parent %r, how=%s)" % (
            type(self).__name__,
            self._mechanism,
            self._removed_parent,
            how,
        )

    __str__ = __repr__


class _ConditionalMixin(_EdgeRemovedBase):
    def fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Refit the wrapped mechanism on the remaining parents plus the inserted column."""
        n = self._n_rows(X)
        self._mechanism.fit(X=self._full(X, self._insertion.sampled(n)), Y=Y)

    def draw_samples(self, parent_samples: np.ndarray) -> np.ndarray:
        n = self._n_rows(parent_samples)
        full = self._full(parent_samples, self._insertion.sampled(n))
        return shape_into_2d(self._mechanism.draw_samples(full))


class _FunctionalMixin(_ConditionalMixin):
    def draw_noise_samples(self, num_samples: int) -> np.ndarray:
        return self._mechanism.draw_noise_samples(num_samples)

    def evaluate(self, parent_samples: np.ndarray, noise_samples: np.ndarray) -> np.ndarray:
        n = self._n_rows(parent_samples)
        full = self._full(parent_samples, self._insertion.unit_level(n))
        return self._mechanism.evaluate(full, noise_samples)


class _InvertibleMixin(_FunctionalMixin):
    def estimate_noise(self, target_samples: np.ndarray, parent_samples: np.ndarray) -> np.ndarray:
        n = self._n_rows(parent_samples)
        full = self._full(parent_samples, self._insertion.unit_level(n))
        return self._mechanism.estimate_noise(target_samples, full)


class _ProbabilityMixin(_EdgeRemovedBase):
    def estimate_probabilities(self, parent_samples: np.ndarray) -> np.ndarray:
        """p(y | remaining parents); under "marginal" averaged over the parent's marginal."""
        n = self._n_rows(parent_samples)
        ins = self._insertion
        if ins.how != "marginal":
            full = self._full(parent_samples, _constant_column(ins.constant, n))
            return self._mechanism.estimate_probabilities(full)
        k = ins.support.shape[0]
        rest = shape_into_2d(np.asarray(parent_samples))
        chunk = max(1, _MAX_PROBABILITY_ROWS // k)
        parts = []
        for start in range(0, n, chunk):
            block = rest[start : start + chunk]
            m = block.shape[0]
            stacked = np.repeat(block, k, axis=0)  # rows: (row0, s0), (row0, s1), ...
            full = self._full(stacked, np.tile(ins.support, m))
            probabilities = np.asarray(self._mechanism.estimate_probabilities(full), dtype=float)
            parts.append(np.einsum("mkc,k->mc", probabilities.reshape(m, k, -1), ins.weights))
        if not parts:
            empty = self._full(rest, ins.support[:0])
            return np.asarray(self._mechanism.estimate_probabilities(empty))
        return np.concatenate(parts, axis=0)

    # DoWhy's ClassifierFCM exposes these; forward them when present.
    def get_class_names(self, class_indices: np.ndarray):
        return self._mechanism.get_class_names(class_indices)

    @property
    def classifier_model(self):
        return self._mechanism.classifier_model


class EdgeRemovedMechanism(_ConditionalMixin, ConditionalStochasticModel):
    """Wrapper for a general :class:`ConditionalStochasticModel`."""


class EdgeRemovedFunctionalMechanism(_FunctionalMixin, FunctionalCausalModel):
    """Wrapper for a (non-invertible) :class:`FunctionalCausalModel`."""


class EdgeRemovedInvertibleMechanism(_InvertibleMixin, InvertibleFunctionalCausalModel):
    """Wrapper for an :class:`InvertibleFunctionalCausalModel`; keeps counterfactuals working."""


class EdgeRemovedProbabilityMechanism(
    _ProbabilityMixin, _ConditionalMixin, ConditionalStochasticModel, ProbabilityEstimatorModel
):
    """Wrapper for a conditional stochastic model that also estimates class probabilities."""


class EdgeRemovedFunctionalProbabilityMechanism(
    _ProbabilityMixin, _FunctionalMixin, FunctionalCausalModel, ProbabilityEstimatorModel
):
    """Wrapper for e.g. DoWhy's ``ClassifierFCM``."""


class EdgeRemovedInvertibleProbabilityMechanism(
    _ProbabilityMixin, _InvertibleMixin, InvertibleFunctionalCausalModel, ProbabilityEstimatorModel
):
    """Wrapper for an invertible FCM that also estimates class probabilities."""


class EdgeRemovedRootMechanism(_EdgeRemovedBase, StochasticModel):
    """Wrapper used when the removed parent was the child's only parent: the child is a root."""

    def fit(self, X: np.ndarray) -> None:
        Y = np.asarray(X)
        self._mechanism.fit(X=self._full(None, self._insertion.sampled(Y.shape[0])), Y=Y)

    def draw_samples(self, num_samples: int) -> np.ndarray:
        full = self._full(None, self._insertion.sampled(int(num_samples)))
        return shape_into_2d(self._mechanism.draw_samples(full))


def _wrapper_class(mechanism: Any, becomes_root: bool):
    if becomes_root:
        return EdgeRemovedRootMechanism
    probability = isinstance(mechanism, ProbabilityEstimatorModel)
    if isinstance(mechanism, InvertibleFunctionalCausalModel):
        if probability:
            return EdgeRemovedInvertibleProbabilityMechanism
        return EdgeRemovedInvertibleMechanism
    if isinstance(mechanism, FunctionalCausalModel):
        if probability:
            return EdgeRemovedFunctionalProbabilityMechanism
        return EdgeRemovedFunctionalMechanism
    if isinstance(mechanism, ConditionalStochasticModel):
        if probability:
            return EdgeRemovedProbabilityMechanism
        return EdgeRemovedMechanism
    raise TypeError(
        "The causal mechanism %r of the child node is not a dowhy.gcm ConditionalStochasticModel."
        % (mechanism,)
    )


# --------------------------------------------------------------------------------------------
# Public function
# --------------------------------------------------------------------------------------------
def remove_edge(
    causal_model: ProbabilisticCausalModel,
    parent: Any,
    child: Any,
    how: Any = DEFAULT_HOW,
    *,
    data: Optional[pd.DataFrame] = None,
    random_state: Optional[int] = None,
) -> ProbabilisticCausalModel:
    """Return a new fitted causal model, of the same class, without the edge ``parent -> child``.

    No mechanism is refitted: the new model holds deep copies of the fitted mechanisms, the
    child's one wrapped so that it takes the remaining parents and re-inserts the removed parent
    (see the module docstring for the exact semantics, in particular for counterfactuals). The
    child's stored parents-during-fit are updated, so DoWhy accepts the new model as fitted. The
    input model is not modified.

    :param causal_model: A fitted ``ProbabilisticCausalModel``, ``StructuralCausalModel`` or
        ``InvertibleStructuralCausalModel``.
    :param parent: Source node of the edge to remove.
    :param child: Target node of the edge to remove.
    :param how: ``"marginal"`` (the default: independent draws from the parent's marginal),
        ``"mean"`` (the parent's mean; continuous parents only) or a fixed value (number or
        category) of the parent.
    :param data: Optional data frame with a column ``parent``; its non-missing values define the
        parent's marginal / mean. Otherwise ``NUM_MARGINAL_SAMPLES`` samples are drawn from the
        original model (only when needed).
    :param random_state: Optional int seed for drawing those samples from the original model. The
        global numpy random state is restored afterwards. ``None`` uses the global state.
    :return: The new fitted causal model.
    """
    if not isinstance(causal_model, ProbabilisticCausalModel):
        raise TypeError(
            "remove_edge expects a dowhy.gcm causal model (ProbabilisticCausalModel, "
            "StructuralCausalModel or InvertibleStructuralCausalModel), got %s."
            % type(causal_model).__name__
        )
    graph = causal_model.graph
    for role, node in (("parent", parent), ("child", child)):
        if node not in graph.nodes:
            raise ValueError("Unknown %s node %r: it is not in the causal graph." % (role, node))
    if not graph.has_edge(parent, child):
        hint = " (the graph has the reverse edge %r -> %r)" % (child, parent)
        raise ValueError(
            "The causal graph has no edge %r -> %r%s."
            % (parent, child, hint if graph.has_edge(child, parent) else "")
        )
    _check_fitted(causal_model)
    if random_state is not None and not isinstance(random_state, numbers.Integral):
        raise TypeError("random_state must be an int or None, got %r." % (random_state,))

    mode = _parse_how(how)
    parent_values = None
    if data is not None:
        if not isinstance(data, pd.DataFrame) or parent not in data.columns:
            raise ValueError(
                "data must be a pandas DataFrame with a column for parent %r." % (parent,)
            )
        parent_values = _clean(data[parent].to_numpy(), parent, "data")
    needs_values = mode in _MODES or not isinstance(how, numbers.Number)
    if parent_values is None and needs_values:
        parent_values = _sample_parent(causal_model, parent, random_state)

    insertion = _make_insertion(mode, how, parent, parent_values)

    old_parents = get_ordered_predecessors(graph, child)
    new_model = copy.deepcopy(causal_model)
    new_graph = new_model.graph
    original = new_graph.nodes[child][CAUSAL_MECHANISM]
    new_graph.remove_edge(parent, child)
    new_parents = get_ordered_predecessors(new_graph, child)
    if new_parents != [p for p in old_parents if p != parent]:  # pragma: no cover - sorted() order
        raise RuntimeError("Unexpected parent order after removing %r -> %r." % (parent, child))

    wrapper_cls = _wrapper_class(original, becomes_root=len(new_parents) == 0)
    wrapper = wrapper_cls(
        mechanism=original,
        removed_parent=parent,
        insert_position=old_parents.index(parent),
        num_full_parents=len(old_parents),
        insertion=insertion,
    )
    new_graph.nodes[child][CAUSAL_MECHANISM] = wrapper
    new_graph.nodes[child][PARENTS_DURING_FIT] = new_parents
    return new_model


# --------------------------------------------------------------------------------------------
# Helpers of remove_edge
# --------------------------------------------------------------------------------------------
def _check_fitted(causal_model: ProbabilisticCausalModel) -> None:
    graph = causal_model.graph
    if not nx.is_directed_acyclic_graph(graph):
        raise ValueError("The causal graph must be a directed acyclic graph.")
    for node in graph.nodes:
        attributes = graph.nodes[node]
        if CAUSAL_MECHANISM not in attributes:
            raise RuntimeError(
                "The causal model is not fitted: node %r has no causal mechanism. Assign "
                "mechanisms and call gcm.fit before remove_edge." % (node,)
            )
        if attributes.get(PARENTS_DURING_FIT) != get_ordered_predecessors(graph, node):
            raise RuntimeError(
                "The causal model is not fitted: the mechanism of node %r is not fitted to the "
                "graphical structure. Call gcm.fit before remove_edge." % (node,)
            )


def _clean(values: np.ndarray, parent: Any, source: str) -> np.ndarray:
    values = np.asarray(values)
    values = values[~pd.isna(values)]
    if values.shape[0] == 0:
        raise ValueError("No non-missing values of parent %r in %s." % (parent, source))
    if values.dtype.kind not in "biuf":
        values = values.astype(object)
    return values


def _sample_parent(causal_model, parent, random_state) -> np.ndarray:
    """Draw the parent from the original model, using only the parent's ancestral subgraph."""
    nodes = nx.ancestors(causal_model.graph, parent) | {parent}
    sub_model = ProbabilisticCausalModel(causal_model.graph.subgraph(nodes))
    if random_state is None:
        samples = _gcm_draw_samples(sub_model, NUM_MARGINAL_SAMPLES)
    else:
        state = np.random.get_state()
        try:
            np.random.seed(int(random_state))
            samples = _gcm_draw_samples(sub_model, NUM_MARGINAL_SAMPLES)
        finally:
            np.random.set_state(state)
    return _clean(samples[parent].to_numpy(), parent, "samples drawn from the model")


def _is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "iuf"


def _mode_of(values: np.ndarray) -> Any:
    mode = pd.Series(values).value_counts().idxmax()
    return mode.item() if isinstance(mode, np.generic) else mode


def _make_insertion(mode: str, how: Any, parent: Any, values: Optional[np.ndarray]) -> _Insertion:
    if mode == "marginal":
        reference = float(np.mean(values)) if _is_numeric(values) else _mode_of(values)
        return _Insertion("marginal", values, None, reference)
    if mode == "mean":
        if not _is_numeric(values):
            check_mean_allowed(parent, "categorical", pd.unique(pd.Series(values)))
        if np.isin(values, (0, 1)).all():   # a 0/1 parent is binary (the package's rule)
            check_mean_allowed(parent, "binary", [0, 1])
        mean = float(np.mean(values))
        return _Insertion("mean", None, mean, mean)
    # fixed value
    value = how.item() if isinstance(how, np.generic) else how
    if values is not None:
        if _is_numeric(values):
            if not isinstance(value, numbers.Number) or isinstance(value, bool):
                raise ValueError(
                    "how=%r is neither 'marginal', 'mean' nor a number, but parent %r is numeric."
                    % (how, parent)
                )
        else:
            categories = pd.unique(pd.Series(values))
            if not any(value == c for c in categories):
                shown = ", ".join(repr(c) for c in list(categories)[:10])
                raise ValueError(
                    "how=%r is neither 'marginal', 'mean' nor an observed category of parent %r "
                    "(observed: %s)." % (how, parent, shown)
                )
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        value = float(value)
    return _Insertion("value", None, value, value)


def average_causal_effect(causal_model: ProbabilisticCausalModel, target_node: Any,
                          interventions_alternative: dict, interventions_reference: dict,
                          num_samples_to_draw: Optional[int] = None,
                          observed_data: Optional[pd.DataFrame] = None) -> float:
    """``dowhy.gcm.average_causal_effect`` that also works after an edge removal.

    DoWhy's function raises "Node ... can not be found" when no intervened node is an
    ancestor of ``target_node`` any more (e.g. after ``remove_edge(scm, "B", "C")``, the
    effect of ``B`` on ``C``): it samples only the target's ancestors. The effect is then
    exactly 0 by the graph, and this function returns 0.0; otherwise it calls DoWhy's
    function with the same arguments. Unknown nodes are refused, naming them."""
    from dowhy.gcm import average_causal_effect as _dowhy_ace

    graph = causal_model.graph
    nodes = set(interventions_alternative) | set(interventions_reference)
    unknown = [v for v in [target_node, *sorted(nodes, key=str)] if v not in graph.nodes]
    if unknown:
        raise ValueError("Unknown node(s) %r: not in the causal graph." % (unknown,))
    upstream = nx.ancestors(graph, target_node) | {target_node}
    if not nodes & upstream:
        return 0.0
    return _dowhy_ace(causal_model, target_node, interventions_alternative,
                      interventions_reference, num_samples_to_draw=num_samples_to_draw,
                      observed_data=observed_data)
