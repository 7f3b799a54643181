"""CCGM causal mechanisms for ``dowhy.gcm``.

:class:`CCGMMechanism` is an ``InvertibleFunctionalCausalModel`` for a non-root node: a CCGM
(``variant="ccgm_noise"``, exact objective) trained on the star graph ``parents -> node``,

* continuous node: ``Y = dec(m(pa) + s(pa) * N)``, ``N ~ N(0, 1)``, ``dec`` strictly
  increasing, so ``N`` is recovered exactly from ``(Y, pa)``;
* binary / categorical node: ``Y`` is the category whose CDF interval of ``softmax(f(pa))``
  contains ``N ~ U(0, 1)``; abduction draws ``N`` uniformly within the observed category's
  interval, so the node supports counterfactuals (DoWhy's ``ClassifierFCM`` has no
  ``estimate_noise``) and only ever returns the observed labels.

:class:`CCGMRootModel` is the matching ``StochasticModel`` for a root (a one-node CCGM: a
monotone flow of ``N(0, 1)`` or the class frequencies). :func:`assign_ccgm_mechanisms` puts a
CCGM mechanism on every non-root node of a DoWhy causal model.

Randomness: training is seeded from ``random_state`` (``None`` draws the seed from numpy's
global state); noise draws and the discrete posterior draws always use numpy's global state,
as DoWhy's own mechanisms do, so ``gcm.util.general.set_random_seed`` makes every query
reproducible and distinct nodes never share noise streams.
"""
from __future__ import annotations

import os
import re

import networkx as nx
import numpy as np
import pandas as pd
from dowhy.gcm.causal_mechanisms import (
    ClassifierFCM,
    InvertibleFunctionalCausalModel,
    StochasticModel,
)
from dowhy.gcm.causal_models import CAUSAL_MECHANISM, ProbabilisticCausalModel
from dowhy.gcm.ml.classification import ClassificationModel
from dowhy.gcm.stochastic_models import EmpiricalDistribution
from dowhy.graph import get_ordered_predecessors, is_root_node
from sklearn.exceptions import NotFittedError

from .._fit import fit_model, warn_if_not_converged
from .._params import DEFAULTS, check_parameters
from .._progress import show_progress
from .._schema import infer_column_spec, parse_declaration, typed_column
from .._utils import seed_from
from .._validation import check_frame, check_graph
from . import _memo, _shipping
from ._node import NodeModel, as_2d, as_column
from ._roots import JointEmpiricalDistribution

__all__ = ["CCGMMechanism", "CCGMDiscreteMechanism", "CCGMClassifierView", "CCGMRootModel",
           "assign_ccgm_mechanisms"]

#: CCGMGenerator parameters the mechanisms set themselves.
_RESERVED = ("graph", "exogenous", "variant", "column_types", "learn_structure",
             "knowledge", "structure_bootstrap", "edge_threshold", "extra_columns")
_OWN = ("kind", "hidden", "epochs", "random_state", "progress_bar")
ALLOWED_PARAMS = tuple(p for p in DEFAULTS if p not in _RESERVED and p not in _OWN)
_DEFAULT_EPOCHS = 300
#: the fitted state that is pickled once and sent again as bytes (:mod:`._shipping`)
_SHIPPED = ("model_", "fitted_")
_SHIPPED_KEY = "_shipped"
_TARGET = "target"


def _parent_name(k: int) -> str:
    return f"parent[{k}]"


# ---------------------------------------------------------------------------- kinds
def _check_values(values, what: str) -> None:
    """Missing or infinite values are refused, naming ``what`` (before kinds are inferred:
    a column of NaN would otherwise look constant)."""
    a = np.asarray(values).reshape(-1)
    if a.shape[0] == 0:
        raise ValueError(f"{what}: no values")
    if a.dtype.kind in "biuf":
        bad = ~np.isfinite(a.astype(np.float64))
    else:
        bad = pd.isna(a)
        try:
            num = np.asarray(a[~bad], dtype=np.float64)
            inf = np.isinf(num)
        except (TypeError, ValueError):
            inf = None
        if inf is not None and inf.any():
            raise ValueError(f"{what} has {int(inf.sum())} infinite value(s)")
    if bad.any():
        raise ValueError(f"{what} has {int(bad.sum())} missing or infinite value(s) (e.g. "
                         f"at row {int(np.argmax(bad))}); impute or drop those rows first")


def detect_kind(values, name: str = "column") -> str:
    """The column kind of a 1-D array by ``CCGMGenerator``'s one rule
    (:func:`~dowhy_ccgm._schema.infer_column_spec` on :func:`~dowhy_ccgm._schema.typed_column`):
    bool or numeric {0, 1} -> binary; other numbers -> continuous; labels (strings, mixed
    objects) -> binary with two distinct values, categorical otherwise."""
    return infer_column_spec(name, typed_column(values, name)).kind


def _column_kind(name, s: pd.Series, declared=None) -> str:
    """Kind of a DataFrame column by the estimator's rule; a continuous node's point masses
    and lattice are detected again at every fit (``gcm.distribution_change`` refits on
    other data, where they may differ)."""
    if declared is not None:
        parse_declaration(name, declared)
        return declared
    kind = infer_column_spec(str(name), s.dropna()).kind
    return {"kind": "continuous"} if kind == "continuous" else kind


def _owns_its_net(state: dict) -> bool:
    """Whether a mechanism's state holds a model of its own star fit (its node view reads
    the fit's network). Mechanisms exported by ``to_gcm`` share the generator's one
    network: pickled together, they must keep sharing it, so they travel as before."""
    model, fitted = state.get("model_"), state.get("fitted_")
    return (model is not None and fitted is not None
            and getattr(model, "net", None) is getattr(fitted, "net", False))


# ---------------------------------------------------------------------------- base
class _CCGMModelBase:
    """Settings, training and bookkeeping shared by the root and non-root mechanisms."""

    def __init__(self, kind=None, hidden=32, epochs=_DEFAULT_EPOCHS, random_state=None,
                 progress_bar=None, **ccgm_params):
        unknown = sorted(set(ccgm_params) - set(ALLOWED_PARAMS))
        if unknown:
            reserved = [k for k in unknown if k in _RESERVED]
            hint = (f" ({reserved} are set by the mechanism itself: the variant is "
                    "'ccgm_noise', the graph is parents -> node)") if reserved else ""
            raise TypeError(f"{type(self).__name__} got unexpected parameter(s) {unknown}"
                            f"{hint}; CCGMGenerator parameters it accepts: {list(ALLOWED_PARAMS)}")
        parse_declaration("kind", kind)      # a clear error for a bad declaration
        self.kind = kind
        self.hidden = hidden
        self.epochs = epochs
        self.random_state = random_state
        self.progress_bar = progress_bar
        self._home_pid = os.getpid()        # (see __getstate__)
        self.ccgm_params = dict(ccgm_params)
        self.model_ = None

    # -- settings
    def get_params(self) -> dict:
        """The constructor arguments (``ccgm_params`` flattened)."""
        return {"kind": self.kind, "hidden": self.hidden, "epochs": self.epochs,
                "random_state": self.random_state, "progress_bar": self.progress_bar,
                **self.ccgm_params}

    def clone(self):
        """An unfitted copy with the same settings."""
        new = CCGMRootModel(**self.get_params()) if isinstance(self, CCGMRootModel) \
            else CCGMMechanism(**self.get_params())
        for name in ("node_name_", "parent_names_"):
            if hasattr(self, name):
                setattr(new, name, getattr(self, name))
        return new

    def __repr__(self) -> str:
        shown = {"kind": getattr(self, "kind_", None) or self.kind, "hidden": self.hidden,
                 "epochs": self.epochs, **self.ccgm_params}
        args = ", ".join(f"{k}={v!r}" for k, v in shown.items() if v is not None)
        return f"{type(self).__name__}({args})"

    __str__ = __repr__

    def __getstate__(self):
        """Pickling (DoWhy's parallel evaluation sends mechanisms to worker processes,
        whose ``dowhy.gcm.config`` starts with bars on): sent from the process that made
        it, ``progress_bar=None`` travels as that process's current setting. The fitted
        model travels as one pickle kept between calls (:mod:`._shipping`: DoWhy sends
        the mechanisms again with every task)."""
        state = dict(self.__dict__)
        state.pop(_shipping.CACHE, None)
        if self.progress_bar is None and getattr(self, "_home_pid", None) == os.getpid():
            state["_sent_progress_bar"] = show_progress(None)
        if _owns_its_net(state):
            state[_SHIPPED_KEY] = (_SHIPPED, _shipping.packed(self, _SHIPPED))
            for n in _SHIPPED:
                del state[n]
        return state

    def __setstate__(self, state):
        state = dict(state)
        shipped = state.pop(_SHIPPED_KEY, None)
        self.__dict__.update(state)
        if shipped is not None:
            names, blob = shipped
            self.__dict__.update(zip(names, _shipping.unpacked(blob)))

    def _progress_bar(self):
        """The bar setting of a fit: the explicit one; in a worker process, the setting of
        the process that made the mechanism; else this process's own (None)."""
        if self.progress_bar is not None:
            return self.progress_bar
        if getattr(self, "_home_pid", None) not in (None, os.getpid()):
            return getattr(self, "_sent_progress_bar", None)
        return None

    # -- fitting
    def _check_fitted(self):
        if self.model_ is None:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit "
                                 "(gcm.fit(causal_model, data) does) first")

    def _parent_label(self, k: int) -> str:
        """Parent ``k`` in DoWhy's sorted-predecessor order, by name where the mechanism
        knows its parents (``assign_ccgm_mechanisms`` tells it), else by position."""
        names = getattr(self, "parent_names_", None)
        if names is not None and 0 <= k < len(names):
            return f"parent {names[k]!r}"
        return f"parent column {k} (DoWhy's sorted-predecessor order)"

    def _fit_star(self, parents, target) -> NodeModel:
        """Train a CCGM on ``parents -> target`` and return the target's node view."""
        node = getattr(self, "node_name_", None)
        where = f" of node {node!r}" if node is not None else ""
        for k, col in enumerate(parents):
            _check_values(col, f"{self._parent_label(k)}{where}")
        _check_values(target, f"the target values{where}")
        columns, kinds = {}, {}
        for k, col in enumerate(parents):
            name = _parent_name(k)
            s = typed_column(col, name)
            columns[name] = s.reset_index(drop=True)
            kinds[name] = infer_column_spec(name, s).declared_kind
        s = typed_column(target, _TARGET)
        columns[_TARGET] = s.reset_index(drop=True)
        # (a detected point mass at 0 makes the target zero-inflated)
        kinds[_TARGET] = self.kind or infer_column_spec(_TARGET, s).declared_kind
        graph = nx.DiGraph()
        graph.add_node(_TARGET)
        graph.add_edges_from((name, _TARGET) for name in columns if name != _TARGET)
        params = {**DEFAULTS, "device": "cpu", **self.ccgm_params,
                  "graph": graph, "variant": "ccgm_noise", "column_types": kinds,
                  "hidden": self.hidden, "epochs": self.epochs,
                  "random_state": seed_from(self.random_state),
                  "progress_bar": self._progress_bar()}
        check_parameters(params, type(self).__name__)
        # (DoWhy refits a node on the same rows with the same settings: trained once)
        key = _memo.fit_key(params, columns)
        hit = _memo.recall(key)
        if hit is not None:
            model, history = hit
        else:
            try:
                res = fit_model(params, pd.DataFrame(columns), used=[_TARGET])
            except ValueError as exc:  # errors name the node and its parents, not the frame's
                msg = str(exc).replace(repr(_TARGET), repr(node) if node is not None else
                                       "the target")
                msg = re.sub(r"'parent\[(\d+)\]'",
                             lambda m: self._parent_label(int(m.group(1))), msg)
                raise ValueError(msg + where if node is not None and where not in msg
                                 else msg) from exc
            model, history = res.model, res.history
            _memo.remember(key, model, history)
        warn_if_not_converged(history, params, type(self).__name__, stacklevel=4)
        idx = {c: k for k, c in enumerate(model.nodes)}
        specs = model.schema.by_name
        self.fitted_ = model
        self.history_ = history
        self.kind_ = specs[_TARGET].kind
        return NodeModel(model.net, idx[_TARGET], specs[_TARGET],
                         [(idx[_parent_name(k)], specs[_parent_name(k)])
                          for k in range(len(parents))], n_threads=params["n_threads"])

    @classmethod
    def _from_model(cls, model: NodeModel, params: dict):
        """A fitted mechanism around an existing node view (used by ``to_gcm``)."""
        kind = model.kind
        if cls is CCGMMechanism and kind != "continuous":
            cls = CCGMDiscreteMechanism
        self = cls(**{**params, "kind": kind})
        self.model_ = model
        self.kind_ = kind
        return self


# ---------------------------------------------------------------------------- non-root
class CCGMMechanism(_CCGMModelBase, InvertibleFunctionalCausalModel):
    """CCGM causal mechanism of a non-root node, for ``dowhy.gcm``.

    An invertible functional causal model ``Y = f(PA, N)`` with ONE scalar noise ``N`` per
    node: ``N ~ N(0, 1)`` for a continuous node (``Y = dec(m(PA) + s(PA) N)``, exactly
    invertible in ``N``), ``N ~ U(0, 1)`` for a binary or categorical node (inverse-CDF
    sampling of the CCGM's class probabilities). It is fitted by training a CCGM
    (``CCGMGenerator`` with ``variant="ccgm_noise"``) on the star graph ``parents -> node``.

    Parameters
    ----------
    kind : {None, "continuous", "zero_inflated", "binary", "categorical"} or dict
        The node's type (``"zero_inflated"``: continuous with a point mass at 0; a dict
        ``{"atoms": [...], "step": h}``: continuous with those point masses and lattice
        step, as in ``CCGMGenerator``'s ``column_types``); ``None``
        detects it at fit time from the target values (bool or
        numeric {0, 1}: binary; other numbers: continuous; labels such as strings: binary
        with two distinct values, categorical otherwise). With a discrete ``kind`` the
        instance is a :class:`CCGMDiscreteMechanism`.
    hidden : int
        Width of the node's mask MLP.
    epochs : int
        Maximum training epochs (early stopping usually ends sooner).
    random_state : int, RandomState or None
        Seeds the training. ``None`` draws the seed from numpy's global state, so
        ``gcm.util.general.set_random_seed`` carries through. Noise draws always use numpy's
        global state (as DoWhy's mechanisms do).
    progress_bar : bool, optional
        Default follows ``dowhy.gcm.config.show_progress_bars``.
    **ccgm_params
        Further ``CCGMGenerator`` parameters (``n_layers``, ``batch_size``,
        ``learning_rate``, ``patience``, ``objective``, ``validation_fraction``, ``device``
        (default ``"cpu"``), ...).

    Attributes
    ----------
    kind_ : str
        The fitted node's kind.
    fitted_ : FittedCCGM
        The trained star-graph model ``parents -> node`` (an exact formula node's is not
        trained: its parents' decoders stay where they started). Absent for mechanisms
        exported by ``to_gcm``.
    history_ : dict
        Its training history (losses per check, passes, whether it converged; ``used``
        names the node read, ``"target"``; an exact formula node trains no step).

    Notes
    -----
    Parents arrive as DoWhy hands them: a (n, k) array in ``sorted(predecessors)`` order,
    float64 or object. String / bool parents are one-hot / binary inputs; a numeric {0, 1}
    parent is a binary input extended linearly to other numbers (``do(D := 0.5)`` is
    defined). Binary and categorical nodes only return their training labels (numbers as
    float, strings as objects).

    Examples
    --------
    >>> import networkx as nx, numpy as np, pandas as pd
    >>> from dowhy import gcm
    >>> from dowhy_ccgm.gcm import CCGMMechanism
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400)
    >>> df = pd.DataFrame({"X": x, "Y": np.tanh(x) + 0.1 * rng.normal(size=400)})
    >>> scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("X", "Y")]))
    >>> scm.set_causal_mechanism("X", gcm.EmpiricalDistribution())
    >>> scm.set_causal_mechanism("Y", CCGMMechanism(epochs=5, progress_bar=False))
    >>> gcm.fit(scm, df)
    >>> gcm.counterfactual_samples(scm, {"X": lambda v: v + 1}, observed_data=df.head(2)).shape
    (2, 2)
    """

    def __new__(cls, kind=None, *args, **kwargs):
        if cls is CCGMMechanism and kind in ("binary", "categorical"):
            cls = CCGMDiscreteMechanism
        return super().__new__(cls)

    def fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Train on parent samples ``X`` (n, k) and target samples ``Y`` (n,) or (n, 1)."""
        X = as_2d(X)
        y = as_column(Y, "Y")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but Y has {y.shape[0]}")
        if X.shape[1] == 0:
            raise ValueError("CCGMMechanism models a node with parents; use CCGMRootModel "
                             "(or gcm.EmpiricalDistribution) for a root node")
        self.model_ = self._fit_star([X[:, k] for k in range(X.shape[1])], y)
        # a node detected as discrete becomes a probability estimator (and vice versa)
        if type(self) in (CCGMMechanism, CCGMDiscreteMechanism):
            self.__class__ = CCGMMechanism if self.kind_ == "continuous" \
                else CCGMDiscreteMechanism

    def draw_noise_samples(self, num_samples: int) -> np.ndarray:
        """(n, 1) noise: ``N(0, 1)`` for continuous nodes, ``U(0, 1)`` for discrete ones."""
        self._check_fitted()
        return self.model_.draw_noise(int(num_samples)).reshape(-1, 1)

    def _query(self, method: str, *args) -> np.ndarray:
        """The node view's ``method(*args)``, its ValueErrors naming this node and the
        parent column in DoWhy's order (the view knows its parents only by position)."""
        self._check_fitted()
        try:
            return getattr(self.model_, method)(*args).reshape(-1, 1)
        except ValueError as exc:
            node = getattr(self, "node_name_", None)
            msg = re.sub(r"'parent\[(\d+)\]'",
                         lambda m: self._parent_label(int(m.group(1))), str(exc))
            raise ValueError((f"node {node!r}: " if node is not None else "") + msg) from exc

    def evaluate(self, parent_samples: np.ndarray, noise_samples: np.ndarray) -> np.ndarray:
        """(n, 1) node values at the given parents and noise."""
        return self._query("evaluate", parent_samples, noise_samples)

    def estimate_noise(self, target_samples: np.ndarray, parent_samples: np.ndarray
                       ) -> np.ndarray:
        """(n, 1) noise reproducing ``target_samples`` at ``parent_samples`` (exact inversion
        for continuous nodes; a posterior draw within the observed category's interval of
        the CDF for discrete ones)."""
        return self._query("estimate_noise", target_samples, parent_samples)

    def draw_samples(self, parent_samples: np.ndarray) -> np.ndarray:
        """(n, 1) samples of the node given its parents."""
        return self._query("sample", parent_samples)


class CCGMDiscreteMechanism(CCGMMechanism, ClassifierFCM):
    """A :class:`CCGMMechanism` of a binary or categorical node.

    It is also a DoWhy ``ClassifierFCM`` (same inverse-CDF noise convention) and so a
    ``ProbabilityEstimatorModel``: DoWhy's code paths for categorical nodes work on it
    (``gcm.arrow_strength`` and ``gcm.feature_relevance`` compare class probabilities,
    ``gcm.evaluate_causal_model`` reads ``classifier_model.predict``,
    ``gcm.average_causal_effect`` maps two classes to 0/1). Unlike DoWhy's own
    ``ClassifierFCM`` it is invertible: ``estimate_noise`` draws the noise within the
    observed category's CDF interval, so counterfactuals run.
    """

    def estimate_probabilities(self, parent_samples: np.ndarray) -> np.ndarray:
        """(n, K) class probabilities, columns in the order of :attr:`classes`."""
        self._check_fitted()
        return self.model_.probabilities(parent_samples)

    @property
    def classes(self) -> np.ndarray:
        """The node's labels, in the column order of :meth:`estimate_probabilities`."""
        self._check_fitted()
        return self.model_.labels()

    def get_class_names(self, class_indices: np.ndarray) -> list:
        return list(self.classes[np.asarray(class_indices, dtype=np.int64).reshape(-1)])

    @property
    def classifier_model(self) -> "CCGMClassifierView":
        """The mechanism seen as a DoWhy ``ClassificationModel`` (what DoWhy reads from a
        ``ClassifierFCM``)."""
        return CCGMClassifierView(self)


class CCGMClassifierView(ClassificationModel):
    """DoWhy ``ClassificationModel`` face of a :class:`CCGMDiscreteMechanism` (no state of
    its own: it forwards to the mechanism)."""

    def __init__(self, mechanism: CCGMDiscreteMechanism):
        self._mechanism = mechanism

    def fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        self._mechanism.fit(X, Y)

    def predict_probabilities(self, X: np.ndarray) -> np.ndarray:
        return self._mechanism.estimate_probabilities(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, 1) most probable labels."""
        probs = self._mechanism.estimate_probabilities(X)
        return self._mechanism.classes[probs.argmax(1)].reshape(-1, 1)

    @property
    def classes(self) -> np.ndarray:
        return self._mechanism.classes

    def clone(self):
        return CCGMClassifierView(self._mechanism.clone())


# ---------------------------------------------------------------------------- root
class CCGMRootModel(_CCGMModelBase, StochasticModel):
    """CCGM model of a root node's marginal, for ``dowhy.gcm``.

    A one-node CCGM: a continuous root is ``dec(Z)``, ``Z ~ N(0, 1)``, with ``dec`` a
    learned monotone map (a smooth 1-D flow that can generate unseen values); a discrete
    root samples its learned class frequencies. Same parameters as :class:`CCGMMechanism`.

    ``assign_ccgm_mechanisms`` gives roots a :class:`JointEmpiricalDistribution` by
    default (observed root rows resampled jointly: no training, the data's joint law, and a
    root's noise in DoWhy's counterfactuals is its observed value anyway). Use this model
    (``root_model="ccgm"``) for a smooth marginal that generates unseen values; roots are
    then independent of each other.
    """

    def fit(self, X: np.ndarray) -> None:
        """Train on the root's samples ``X`` (n,) or (n, 1)."""
        self.model_ = self._fit_star([], as_column(X, "X"))

    def draw_samples(self, num_samples: int) -> np.ndarray:
        """(n, 1) samples of the root."""
        self._check_fitted()
        return self.model_.sample(None, int(num_samples)).reshape(-1, 1)


# ---------------------------------------------------------------------------- assignment
def assign_ccgm_mechanisms(causal_model: ProbabilisticCausalModel, data: pd.DataFrame, *,
                           override_models: bool = True, root_model="joint",
                           column_types: dict | None = None, **ccgm_params) -> dict:
    """Put a :class:`CCGMMechanism` on every non-root node of a DoWhy causal model.

    Parameters
    ----------
    causal_model : gcm.ProbabilisticCausalModel
        Usually a ``gcm.InvertibleStructuralCausalModel`` (counterfactuals need one).
    data : pandas.DataFrame
        Used only to detect each node's kind (as ``CCGMGenerator`` does; string and object
        columns are categorical, binary with two values); fit with ``gcm.fit`` afterwards.
    override_models : bool, default=True
        Replace mechanisms already assigned; ``False`` keeps them.
    root_model : {"joint", "empirical", "ccgm"} or a StochasticModel, default="joint"
        The roots' models (``override_models`` applies to them too):

        * ``"joint"``: a :class:`~dowhy_ccgm.gcm.JointEmpiricalDistribution` per root, all
          in one block: every sampling pass draws observed rows and gives each root its
          value in those rows, so the roots keep the data's *joint* law (correlated
          confounders stay correlated). No training; it assumes the observed root rows
          represent the population, and never generates an unseen root combination.
        * ``"empirical"``: DoWhy's ``EmpiricalDistribution`` per root, each drawing its own
          rows: the observed marginals, but the roots independent of each other (exact
          only when they are).
        * ``"ccgm"``: a :class:`CCGMRootModel` per root: a smooth learned marginal (new
          values), roots independent.
        * a ``StochasticModel``: a clone of it per root (a
          ``JointEmpiricalDistribution`` instance is ``"joint"``: all roots in one block).
    column_types : dict, optional
        ``{node: "continuous" | "zero_inflated" | "binary" | "categorical" | dict}``
        overriding the detection, as in ``CCGMGenerator``'s ``column_types`` (point masses
        such as zeros and top-codes, and lattices, are detected).
    **ccgm_params
        Parameters of every :class:`CCGMMechanism` (``hidden``, ``epochs``,
        ``random_state``, ``progress_bar``, ``learning_rate``, ...).

    Returns
    -------
    dict
        ``{node: mechanism}`` for the nodes that were assigned.
    """
    if not isinstance(causal_model, ProbabilisticCausalModel):
        raise TypeError("causal_model must be a dowhy.gcm causal model (e.g. "
                        f"gcm.InvertibleStructuralCausalModel), got {type(causal_model).__name__}")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    graph = causal_model.graph
    try:
        check_graph(graph)
    except ValueError as exc:
        raise ValueError(f"the causal graph must be a directed acyclic graph: {exc}") from None
    missing = [v for v in graph.nodes if v not in data.columns]
    if missing:
        raise ValueError(f"graph nodes missing from the data: {missing}; there should be a "
                         "column of samples for every node")
    # missing and infinite values are named per column BEFORE any kind is inferred
    check_frame(data, graph, extra_columns="drop", min_rows=1)
    column_types = dict(column_types or {})
    unknown = [c for c in column_types if c not in graph.nodes]
    if unknown:
        raise KeyError(f"column_types names unknown nodes {unknown}")
    if not (isinstance(root_model, StochasticModel)
            or (isinstance(root_model, str) and root_model in ("joint", "empirical", "ccgm"))):
        raise ValueError("root_model must be 'joint', 'empirical', 'ccgm' or a dowhy.gcm "
                         f"StochasticModel, got {root_model!r}")
    CCGMMechanism(**ccgm_params)  # fail fast on a bad parameter name
    assigned, block = {}, None
    for node in nx.topological_sort(graph):
        if not override_models and CAUSAL_MECHANISM in graph.nodes[node]:
            continue
        kind = _column_kind(node, data[node], column_types.get(node))
        if is_root_node(graph, node):
            # (an instance of JointEmpiricalDistribution means the same: a clone per root
            # would start a block per root, and the roots would be drawn independently)
            if root_model == "joint" or isinstance(root_model, JointEmpiricalDistribution):
                mech = JointEmpiricalDistribution(joint_with=block)
                mech.node_name_ = node
                if block is None:
                    block = mech
            elif root_model == "empirical":
                mech = EmpiricalDistribution()
            elif root_model == "ccgm":
                mech = CCGMRootModel(kind=kind, **ccgm_params)
            else:
                mech = root_model.clone()
        else:
            mech = CCGMMechanism(kind=kind, **ccgm_params)
            mech.node_name_ = node      # (named in the errors of its fit)
            mech.parent_names_ = list(get_ordered_predecessors(graph, node))
        causal_model.set_causal_mechanism(node, mech)
        assigned[node] = mech
    return assigned
