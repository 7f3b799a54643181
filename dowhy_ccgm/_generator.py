"""``CCGMGenerator``: the scikit-learn front end of the CCGM model."""
from __future__ import annotations

import copy
import json
import os
import warnings
from numbers import Number

import networkx as nx
import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._schema import Schema, infer_column_spec
from ._training import train_ccgm, train_encoder, train_exact
from ._utils import resolve_device, seed_from, show_progress, torch_generator, torch_threads
from ._validation import check_frame, check_graph, check_node
from .nn import VARIANTS, CCGMNet

_FORMAT = "dowhy_ccgm.CCGMGenerator"
_FORMAT_VERSION = 1
_POOL_SIZE = 20_000
_CHUNK_ROWS = 65_536
#: |standardized value| beyond which an intervention or a removed edge's value is refused
#: (float32 arithmetic through the masks would overflow to inf / NaN)
_MAX_STANDARDIZED = 1e6


def _object_array(names) -> np.ndarray:
    """A 1-D object array of names (tuples stay elements; np.asarray would make a 2-D
    array of a list of tuples)."""
    names = list(names)
    out = np.empty(len(names), dtype=object)
    for k, v in enumerate(names):
        out[k] = v
    return out


def _enc_name(v, what: str = "node name"):
    """A node or column name as JSON that decodes to an equal value of the same kind:
    strings as themselves, numbers, booleans and tuples tagged. Other types are refused
    (at save time, naming the value), so that nothing is silently turned into a string."""
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return {"bool": bool(v)}
    if isinstance(v, (int, np.integer)):
        return {"int": int(v)}
    if isinstance(v, (float, np.floating)):
        return {"float": float(v)}
    if isinstance(v, tuple):
        return {"tuple": [_enc_name(x, what) for x in v]}
    raise TypeError(f"cannot save a model whose {what} {v!r} is of type {type(v).__name__}: "
                    "model files keep str, int, float, bool and tuple names")


def _dec_name(d):
    if isinstance(d, str):
        return d
    if isinstance(d, list):                  # files of 0.1.0 wrote tuples as lists
        return tuple(_dec_name(x) for x in d)
    if isinstance(d, dict) and len(d) == 1:
        (kind, v), = d.items()
        if kind == "bool":
            return bool(v)
        if kind == "int":
            return int(v)
        if kind == "float":
            return float(v)
        if kind == "tuple":
            return tuple(_dec_name(x) for x in v)
    if isinstance(d, (int, float)):
        return d
    raise ValueError(f"unreadable node name {d!r} in the model file")


class _RowSlice:
    """Per-unit intervention states, sliced along with the noise chunks."""

    def __init__(self, state):
        self.state = state

    def rows(self, rows: slice):
        return self.state[rows]


class CCGMGenerator(BaseEstimator):
    """Causal Counterfactual Generative Model (Bhat et al.) as a scikit-learn estimator.

    A VAE whose latent passes through a causal layer ``z_i = g_i(A_i ∘ z)`` with
    ``A = G + B`` (``G`` a DAG restricted to the graph's edges, ``B`` = 1 on the
    diagonal for exogenous nodes) and no path around the layer. After ``fit`` one
    can sample, intervene (``do``), compute unit-level counterfactuals and remove an
    edge of the causal graph without retraining.

    Parameters
    ----------
    graph : networkx.DiGraph
        The causal DAG; its nodes are the data's columns.
    exogenous : list of node, optional
        Nodes with ``B_ii = 1`` (their latent passes the layer unchanged). Default:
        the graph's root nodes. Exogenous nodes must be roots.
    variant : {"ccgm_noise", "ccgm", "causalvae"}, default="ccgm_noise"
        ``"ccgm"`` is the paper (endogenous nodes are deterministic functions of
        their parents); ``"ccgm_noise"`` adds one noise latent per endogenous node
        that enters only that node's mask (no leakage; keeps the conditional spread;
        unit-level counterfactuals exist); ``"causalvae"`` is the CausalVAE layer
        ``z = A^T z + eps`` with the leakage, as a baseline.
    column_types : dict, optional
        ``{column: "continuous" | "binary" | "categorical"}`` overriding dtype detection.
    hidden, n_layers : int
        Width and depth of every node's mask MLP.
    encoder_hidden : int
        Width of the encoder MLP.
    epochs : int, default=200
        Maximum passes over the training rows (early stopping usually ends much
        sooner). Under the ELBO / structure-learning loop an epoch is 16-64 minibatches.
    pretrain_epochs : int, default=5
        Passes of linear pre-training of ``A`` on the labels.
    batch_size : int or None, default=None
        Rows per optimizer step. ``None``: for the exact-likelihood fit given the graph
        (``objective="exact"``, the default) a 16th of the training rows, between 32 and
        2048 (a pass is at least 16 steps); 256 for the ELBO loop.
    learning_rate : float or None, default=None
        Adam's initial learning rate (halved when validation stalls). ``None``: 0.01
        for the exact fit, 3e-3 for the ELBO loop (chosen by measurement, see
        ``benchmarks/RESULTS.md``: the fewest steps that keep the accuracy).
    kl_weight, label_weight, latent_weight : float
        Weights of the KL, label (eq. 4) and latent (eq. 5) losses. The exact fit
        trains the exact likelihood plus ``latent_weight`` times l_z (it keeps the
        mechanisms' locations on the latents' conditional means, which measurably
        improves counterfactuals); KL and label weights apply to the ELBO loop.
    prior : {"standard", "conditional"}
        KL to ``N(0, I)`` or to the conditional prior ``N(u_n, I)``.
    learn_structure : bool, default=False
        Allow every edge not into an exogenous node and learn ``G`` under the DAG
        penalty; the learned DAG keeps edges with ``|G| > edge_threshold``.
    edge_threshold : float
    validation_fraction : float
        Share of rows held out for early stopping.
    patience : int or None, default=None
        Validation checks without improvement before stopping (0: never stop early).
        ``None``: 10 for the exact fit (a check after every pass, or every 100 steps on
        large data), 15 epochs for the ELBO loop.
    fit_encoder : bool, default=False
        Also train the VAE encoder under ``objective="exact"`` (a separate regression of
        the exact latents, after the fit), needed only for ``abduction="encoder"``.
        Exact abduction and ``transform`` do not use it. The ELBO always trains it.
    extra_columns : {"raise", "drop"}
        What to do with data columns that are not graph nodes.
    objective : {None, "exact", "elbo"}, default=None
        ``"elbo"`` trains the paper's VAE objective (reconstruction + KL + l_u + l_z +
        DAG penalty). ``"exact"`` uses that the decoders and masks are invertible:
        the exact log-likelihood by change of variables replaces reconstruction + KL.
        It is more accurate (see the docs' benchmark). ``None``: ``"exact"``, except
        for ``variant="causalvae"``, which is defined by its encoder-inferred noise and
        trains the ELBO (asking for ``"exact"`` with it is an error).
    progress_bar : bool, optional
        Default follows ``dowhy.gcm.config.show_progress_bars``.
    n_threads : int, optional
        Torch intra-op threads during fit (default 1: small MLPs run fastest single-threaded,
        and more threads thrash on a shared 2-core machine).
    random_state : int, RandomState or None
    device : {"auto", "cpu", "cuda"}

    Attributes
    ----------
    adjacency_ : DataFrame
        Learned ``A`` (``adjacency_.loc[j, i]`` weight of ``j -> i``).
    graph_ : networkx.DiGraph
        The model's graph with ``weight`` on every edge.
    nodes_ : list
        Node order used inside the model (topological).
    feature_names_in_, n_features_in_ : as in scikit-learn.
    history_ : dict
        Per-epoch losses and the augmented-Lagrangian state.
    net_ : CCGMNet
        The torch module.

    Examples
    --------
    >>> import networkx as nx, numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500); y = np.tanh(x) + 0.1 * rng.normal(size=500)
    >>> gen = CCGMGenerator(nx.DiGraph([("x", "y")]), epochs=5, random_state=0,
    ...                     progress_bar=False).fit(pd.DataFrame({"x": x, "y": y}))
    >>> gen.sample(3, random_state=0).shape
    (3, 2)
    """

    def __init__(self, graph=None, *, exogenous=None, variant="ccgm_noise", column_types=None,
                 hidden=32, n_layers=2, encoder_hidden=64, epochs=200, pretrain_epochs=5,
                 batch_size=None, learning_rate=None, kl_weight=1.0, label_weight=1.0,
                 latent_weight=1.0, prior="standard", learn_structure=False,
                 edge_threshold=0.1, validation_fraction=0.1, patience=None,
                 extra_columns="raise", objective=None, fit_encoder=False,
                 progress_bar=None, n_threads=None, random_state=None, device="auto"):
        self.graph = graph
        self.exogenous = exogenous
        self.variant = variant
        self.column_types = column_types
        self.hidden = hidden
        self.n_layers = n_layers
        self.encoder_hidden = encoder_hidden
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.kl_weight = kl_weight
        self.label_weight = label_weight
        self.latent_weight = latent_weight
        self.prior = prior
        self.learn_structure = learn_structure
        self.edge_threshold = edge_threshold
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.extra_columns = extra_columns
        self.objective = objective
        self.fit_encoder = fit_encoder
        self.progress_bar = progress_bar
        self.n_threads = n_threads
        self.random_state = random_state
        self.device = device

    # ================================================================== fit
    def _check_params(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.prior not in ("standard", "conditional"):
            raise ValueError(f"prior must be 'standard' or 'conditional', got {self.prior!r}")
        for name in ("hidden", "encoder_hidden", "batch_size"):
            v = getattr(self, name)
            if v is None and name == "batch_size":
                continue
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("epochs", "pretrain_epochs", "n_layers", "patience"):
            v = getattr(self, name)
            if v is None and name == "patience":
                continue
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if not (0 <= self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got "
                             f"{self.validation_fraction!r}")
        if self.learning_rate is not None and not (
                isinstance(self.learning_rate, (int, float, np.floating, np.integer))
                and not isinstance(self.learning_rate, bool)
                and np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a finite number > 0 or None, got "
                             f"{self.learning_rate!r}")
        if self.objective not in (None, "exact", "elbo"):
            raise ValueError(f"objective must be None, 'exact' or 'elbo', got "
                             f"{self.objective!r}")
        if self.variant == "causalvae" and self.objective == "exact":
            raise ValueError("variant='causalvae' is defined by its encoder-inferred noise and "
                             "is trained by the ELBO: pass objective='elbo' (or None)")
        if not isinstance(self.fit_encoder, (bool, np.bool_)):
            raise ValueError(f"fit_encoder must be True or False, got {self.fit_encoder!r}")

    def _objective(self) -> str:
        """The objective trained: ``objective``, or its default for the variant."""
        if self.objective is None:
            return "elbo" if self.variant == "causalvae" else "exact"
        return self.objective

    def _uses_exact_fit(self) -> bool:
        """The fast exact-likelihood fit applies: exact objective, graph given."""
        return (self._objective() == "exact"
                and not self.learn_structure)

    def _schedule(self, exact_fit: bool, n_rows: int) -> dict:
        """``batch_size``, ``learning_rate`` and ``patience`` with ``None`` resolved.

        The exact fit's automatic batch is a 16th of the training rows, between 32 and
        2048: a pass over small data is still 16 steps, and large data get the larger
        batches their accuracy needs (at 100k rows, batch 2048 against 512: worst
        interventional error 0.006 against 0.015)."""
        n_train = max(int(round(n_rows * (1 - self.validation_fraction))), 1)
        auto = ({"batch_size": int(min(max(n_train // 16, 32), 2048)), "learning_rate": 1e-2,
                 "patience": 10} if exact_fit
                else {"batch_size": 256, "learning_rate": 3e-3, "patience": 15})
        return {k: auto[k] if getattr(self, k) is None else getattr(self, k) for k in auto}

    def fit(self, X, y=None):
        """Fit the model on a DataFrame whose columns are the graph's nodes.

        Parameters
        ----------
        X : pandas.DataFrame
        y : ignored (present for Pipeline compatibility)

        Returns
        -------
        self
        """
        self._check_params()
        graph = check_graph(self.graph)
        min_rows = 10 if self.validation_fraction > 0 else 2
        Xg = check_frame(X, graph, extra_columns=self.extra_columns, min_rows=min_rows)
        column_types = dict(self.column_types or {})
        unknown = [c for c in column_types if c not in graph.nodes]
        if unknown:
            raise KeyError(f"column_types names unknown columns {unknown}")
        if self.exogenous is None:
            exo = [v for v in graph.nodes if graph.in_degree(v) == 0]
        else:
            exo = list(self.exogenous)
        for e in exo:
            check_node(e, graph.nodes, "exogenous node")
            if graph.in_degree(e) > 0 and not self.learn_structure:
                raise ValueError(f"exogenous node {e!r} has parents {list(graph.predecessors(e))} "
                                 "in the graph; exogenous nodes must be roots")
        order = list(nx.topological_sort(graph))
        specs = [infer_column_spec(c, Xg[c], column_types.get(c)) for c in order]
        schema = Schema(specs, [c for c in Xg.columns])
        idx = {c: k for k, c in enumerate(order)}
        n = len(order)
        mask = np.zeros((n, n), dtype=bool)
        if self.learn_structure:
            for i, c in enumerate(order):
                if c not in exo:
                    mask[:, i] = True
                    mask[i, i] = False
        else:
            for a, b in graph.edges:
                mask[idx[a], idx[b]] = True
        seed = seed_from(self.random_state)
        dev = resolve_device(self.device)
        with torch_threads(self.n_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = CCGMNet([s.kind for s in specs],
                          [len(s.categories) if s.kind != "continuous" else 0 for s in specs],
                          [c in exo for c in order], torch.as_tensor(mask),
                          list(range(n)), variant=self.variant, hidden=self.hidden,
                          n_layers=self.n_layers, encoder_hidden=self.encoder_hidden,
                          prior=self.prior, objective=self._objective()).to(dev)
            gen = torch_generator(seed)
            progress = show_progress(self.progress_bar)
            if self._uses_exact_fit():
                sch = self._schedule(True, len(Xg))
                # the state rows straight from the frame: the one copy of the data
                S = torch.zeros(len(Xg), net.width)
                schema.standardize_into(Xg, S.numpy(), [net.offsets[i] for i in net.cont])
                codes = torch.as_tensor(schema.codes_array(Xg))
                net.encode_states(None, codes, out=S)
                self.history_ = train_exact(
                    net, S, codes, epochs=int(self.epochs),
                    pretrain_epochs=int(self.pretrain_epochs),
                    batch_size=int(sch["batch_size"]), lr=float(sch["learning_rate"]),
                    patience=int(sch["patience"]),
                    validation_fraction=float(self.validation_fraction), generator=gen,
                    progress=progress, latent_weight=float(self.latent_weight))
                if self.fit_encoder:
                    self.history_["encoder"] = train_encoder(
                        net, S, codes, epochs=int(self.epochs),
                        batch_size=int(sch["batch_size"]), lr=float(sch["learning_rate"]),
                        generator=gen)
            else:
                u, codes = (torch.as_tensor(a) for a in schema.to_arrays(Xg))
                sch = self._schedule(False, len(Xg))
                train_kw = dict(
                    batch_size=int(sch["batch_size"]), lr=float(sch["learning_rate"]),
                    kl_weight=float(self.kl_weight), label_weight=float(self.label_weight),
                    latent_weight=float(self.latent_weight), patience=int(sch["patience"]),
                    validation_fraction=float(self.validation_fraction), generator=gen,
                    progress=progress)
                self.history_ = train_ccgm(net, u, codes, epochs=int(self.epochs),
                                           pretrain_epochs=int(self.pretrain_epochs),
                                           **train_kw)
            self.net_, self.nodes_ = net, order
            if self.learn_structure:
                # keep the learned DAG, then refit the masks on exactly that structure
                self._set_learned_structure()
                if net.objective == "exact":
                    refit = self._schedule(True, len(Xg))
                    self.history_["refit"] = train_exact(
                        net, net.encode_states(u.to(dev), codes.to(dev)), codes,
                        epochs=int(self.epochs), pretrain_epochs=0,
                        batch_size=int(refit["batch_size"]),
                        lr=float(refit["learning_rate"]), patience=int(refit["patience"]),
                        validation_fraction=float(self.validation_fraction), generator=gen,
                        progress=progress, latent_weight=float(self.latent_weight),
                        desc="CCGM refit on learned DAG")
                else:
                    self.history_["refit"] = train_ccgm(
                        net, u, codes, epochs=int(self.epochs), pretrain_epochs=0,
                        desc="CCGM refit on learned DAG", **train_kw)
        net.eval()
        self._warn_if_not_converged()
        self.encoder_fitted_ = bool(net.objective == "elbo" or not self._uses_exact_fit()
                                    or self.fit_encoder)
        self.schema_ = schema
        self.nodes_ = order
        self.exogenous_ = [c for c in order if c in exo]
        self.feature_names_in_ = _object_array(Xg.columns)
        self.n_features_in_ = len(Xg.columns)
        self._edge_overrides = {}
        self._override_tensors = {}
        self._rng = torch_generator(seed + 1)
        self._refresh_graph()
        return self

    def _warn_if_not_converged(self):
        h = self.history_
        if h.get("converged") is False and int(self.epochs) > 0:
            sch = self._schedule(self._uses_exact_fit(), 0)
            if int(sch["patience"]) > 0:
                warnings.warn(
                    f"{type(self).__name__}: training ended on the epoch limit "
                    f"(epochs={self.epochs}) before its "
                    f"validation objective stopped improving; raise epochs for a converged "
                    f"model", ConvergenceWarning, stacklevel=3)

    def _set_learned_structure(self):
        G = self.net_.G.detach().cpu().numpy()
        n = len(self.nodes_)
        D = nx.DiGraph()
        D.add_nodes_from(range(n))
        edges = sorted(((abs(G[j, i]), j, i) for j in range(n) for i in range(n)
                        if abs(G[j, i]) > self.edge_threshold), reverse=True)
        for _, j, i in edges:  # greedy: strongest first, skip edges that close a cycle
            if not nx.has_path(D, i, j):
                D.add_edge(j, i)
        mask = torch.zeros(n, n)
        for j, i in D.edges:
            mask[j, i] = 1.0
        self.net_.mask.copy_(mask.to(self.net_.mask.device))
        self.net_.order = list(nx.topological_sort(D))

    def _refresh_graph(self):
        A = self.net_.A.detach().cpu().numpy().copy()
        idx = {c: k for k, c in enumerate(self.nodes_)}
        for (p, c) in self._edge_overrides:
            A[idx[p], idx[c]] = 0.0
        self.adjacency_ = pd.DataFrame(A, index=self.nodes_, columns=self.nodes_)
        mask = self.net_.mask.detach().cpu().numpy()
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes_)
        for j, p in enumerate(self.nodes_):
            for i, c in enumerate(self.nodes_):
                if mask[j, i] and (p, c) not in self._edge_overrides:
                    g.add_edge(p, c, weight=float(A[j, i]))
        self.graph_ = g

    # ================================================================== helpers
    def _check_fitted(self):
        try:
            check_is_fitted(self, "net_")
        except NotFittedError:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; "
                                 "call fit(X) first") from None

    def _gen(self, random_state):
        if random_state is None:
            return self._rng
        return torch_generator(seed_from(random_state))

    def _idx(self, node):
        check_node(node, self.nodes_)
        return self.nodes_.index(node)

    @torch.no_grad()
    def _state_to_values(self, i: int, state: torch.Tensor) -> np.ndarray:
        spec = self.schema_.specs[i]
        net = self.net_
        if spec.kind == "continuous":
            return spec.unstandardize(state[:, 0].cpu().numpy())
        code = self._codes_of_state(i, state)
        return np.asarray([spec.categories[int(c)] for c in code], dtype=object)

    def _codes_of_state(self, i, state):
        if self.net_.kinds[i] == "binary":
            return (state[:, 0] > 0).long().cpu().numpy()
        return state.argmax(-1).cpu().numpy()

    @torch.no_grad()
    def _values_to_state(self, i: int, values, n_rows: int | None = None,
                         integer_only: bool = True) -> torch.Tensor:
        """Values of node ``i`` -> its state rows. ``integer_only``: an integer column's
        value must be an integer (an intervention's value is what the output shows and the
        children see); a removed edge's constant is never shown, so it may be any number."""
        spec = self.schema_.specs[i]
        dev = self.net_.mask.device
        arr = np.atleast_1d(np.asarray(values, dtype=object if spec.kind != "continuous"
                                       else np.float64))
        if n_rows is not None and arr.shape[0] not in (1, n_rows):
            raise ValueError(f"intervention on {spec.name!r}: got {arr.shape[0]} values for "
                             f"{n_rows} units")
        if spec.kind == "continuous":
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"intervention value for {spec.name!r} must be finite")
            if integer_only and spec.integer and np.any(arr != np.rint(arr)):
                bad = arr[np.argmax(arr != np.rint(arr))]
                raise ValueError(
                    f"column {spec.name!r} holds integers and its children were trained on "
                    f"its integer values; got the non-integer value {bad!r}: pass an integer "
                    f"(or declare the column float)")
            st = spec.standardize(arr)
            if np.any(np.abs(st) > _MAX_STANDARDIZED):
                bad = arr[np.argmax(np.abs(st))]
                raise ValueError(
                    f"value {bad!r} for {spec.name!r} is {float(np.max(np.abs(st))):.3g} standard "
                    f"deviations from its training "
                    f"mean; the model computes in float32 and cannot represent values beyond "
                    f"{_MAX_STANDARDIZED:.0e} standard deviations")
            return torch.as_tensor(st, dtype=torch.float32, device=dev).unsqueeze(-1)
        codes = torch.as_tensor(spec.codes(arr), device=dev)
        return self.net_.disc_state(i, codes)

    def _intervention_specs(self, interventions, n_rows):
        """Interventions -> ({node index: state or callable}, {column: exact values}).

        The exact values are written into the output so that ``do(x=3)`` gives
        exactly 3 (states are float32 inside the model). A callable's values are
        collected chunk by chunk (generation runs in row chunks)."""
        if not isinstance(interventions, dict) or not interventions:
            raise ValueError("interventions must be a non-empty dict {node: value or callable}")
        specs, exact = {}, {}
        for node, v in interventions.items():
            i = self._idx(node)
            if callable(v):
                exact[node] = []

                def fn(natural, i=i, v=v, node=node):
                    new = np.asarray(v(self._state_to_values(i, natural)))
                    new = np.broadcast_to(new, (natural.shape[0],))
                    exact[node].append(new)
                    return self._values_to_state(i, new, natural.shape[0])
                specs[i] = fn
            else:
                state = self._values_to_state(i, v, n_rows)
                specs[i] = _RowSlice(state) if state.shape[0] > 1 else state
                exact[node] = np.broadcast_to(np.asarray(v), (n_rows,))
        return specs, exact

    def _overrides(self):
        out = {}
        for (p, c), ov in self._edge_overrides.items():
            out[(self.nodes_.index(p), self.nodes_.index(c))] = \
                (ov["mode"], self._override_tensors[(p, c)])
        return out

    @torch.no_grad()
    def _frame(self, S, index=None) -> pd.DataFrame:
        net = self.net_
        u = S[:, [net.offsets[i] for i in net.cont]].cpu().numpy()
        codes = net.states_to_codes(S).cpu().numpy()
        return self.schema_.to_frame(u, codes, index=index)

    def _observed(self, X):
        self._check_fitted()
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes_)
        Xg = check_frame(X, graph, extra_columns=self.extra_columns, min_rows=1)
        u, codes = self.schema_.to_arrays(Xg)
        dev = self.net_.mask.device
        return torch.as_tensor(u, device=dev), torch.as_tensor(codes, device=dev), Xg

    def _run(self, noise, interventions=None, gen=None, index=None):
        """Generate in row chunks (bounded memory, faster than one huge batch)."""
        specs, exact = interventions if interventions else (None, {})
        n_rows = next(v.shape[0] for v in noise.values() if v.numel()) if any(
            v.numel() for v in noise.values()) else 0
        parts = []
        with torch.no_grad(), torch_threads(self.n_threads):
            for start in range(0, max(n_rows, 1), _CHUNK_ROWS):
                rows = slice(start, min(start + _CHUNK_ROWS, n_rows))
                chunk = {k: v[rows] for k, v in noise.items()}
                cspecs = None if specs is None else {
                    i: (sp.rows(rows) if isinstance(sp, _RowSlice) else sp)
                    for i, sp in specs.items()}
                parts.append(self.net_.generate(chunk, cspecs, self._overrides(),
                                                generator=gen))
        S = torch.cat(parts) if len(parts) > 1 else parts[0]
        out = self._frame(S, index)
        for col, values in exact.items():
            if isinstance(values, list):
                values = np.concatenate(values) if values else values
            if self.schema_.by_name[col].kind == "continuous":
                out[col] = np.asarray(values, dtype=np.float64).astype(out[col].dtype)
        return out

    # ================================================================== public API
    def sample(self, n_samples: int, random_state=None) -> pd.DataFrame:
        """Draw ``n_samples`` rows from the (possibly edge-removed) model.

        Returns a DataFrame with the training columns and dtypes.
        """
        self._check_fitted()
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        gen = self._gen(random_state)
        noise = self.net_.sample_noise(int(n_samples), gen)
        return self._run(noise, gen=gen)

    def intervene(self, interventions: dict, n_samples: int | None = None, X=None,
                  random_state=None) -> pd.DataFrame:
        """Samples under ``do(interventions)``.

        Parameters
        ----------
        interventions : dict
            ``{node: value}`` (a scalar, or one value per unit) or
            ``{node: callable}`` mapping the node's natural values (numpy array) to
            new ones, as in ``dowhy.gcm``.
        n_samples : int, optional
            Population level: draw this many new units.
        X : DataFrame, optional
            Unit level: the units' noise is abducted from ``X`` (counterfactual).
        """
        self._check_fitted()
        if (n_samples is None) == (X is None):
            raise ValueError("give exactly one of n_samples (population level) or X (unit level)")
        if X is not None:
            return self.counterfactual(X, interventions, random_state=random_state)
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        gen = self._gen(random_state)
        specs = self._intervention_specs(interventions, int(n_samples))
        noise = self.net_.sample_noise(int(n_samples), gen)
        return self._run(noise, specs, gen)

    def counterfactual(self, X, interventions: dict, random_state=None,
                       abduction: str = "exact") -> pd.DataFrame:
        """Unit-level counterfactuals: abduct each row's noise, apply ``do``, predict.

        ``abduction="exact"`` inverts the decoder and masks (exact for continuous
        nodes; a discrete node's noise is drawn from its posterior interval);
        ``"encoder"`` uses the VAE encoder's posterior mean (CausalVAE's way).
        With ``variant="ccgm"`` endogenous nodes carry no noise, so their
        counterfactual is the mechanism's value at the new parents.
        """
        if abduction not in ("exact", "encoder"):
            raise ValueError(f"abduction must be 'exact' or 'encoder', got {abduction!r}")
        if abduction == "encoder" and not self.encoder_fitted_:
            raise ValueError("abduction='encoder' needs a trained encoder: this model was fit "
                             "by the exact likelihood without one; refit with "
                             "fit_encoder=True (or use abduction='exact', which is exact)")
        u, codes, Xg = self._observed(X)
        gen = self._gen(random_state)
        specs = self._intervention_specs(interventions, len(Xg)) if interventions else None
        with torch_threads(self.n_threads):
            noise = self.net_.abduct(u, codes, method=abduction, generator=gen)
        return self._run(noise, specs, gen, index=Xg.index)

    def remove_edge(self, parent, child, how="mean", random_state=None) -> "CCGMGenerator":
        """A NEW fitted generator whose ``child`` no longer depends on ``parent``.

        No retraining: the child's mask is fed, in place of the parent,
        ``how="mean"`` the parent's mean (for a discrete parent, its class
        frequencies), ``how="marginal"`` an independent draw from the parent's
        marginal (as ``dowhy.gcm.arrow_strength`` does), or a fixed value.
        The original generator is left untouched.
        """
        self._check_fitted()
        check_node(parent, self.nodes_)
        check_node(child, self.nodes_)
        if not self.graph_.has_edge(parent, child):
            raise ValueError(f"the model has no edge {parent!r} -> {child!r}; its edges into "
                             f"{child!r} are {sorted(self.graph_.predecessors(child), key=str)}")
        j = self._idx(parent)
        new = copy.deepcopy(self)
        if random_state is not None:
            gen = self._gen(random_state)
        else:   # a seed read from a copy of this model's stream: the original's own
            # random stream is left exactly where it was
            peek = torch.Generator()
            peek.set_state(self._rng.get_state())
            gen = torch_generator(int(torch.randint(0, 2**31 - 1, (1,), generator=peek)))
        if isinstance(how, str) and how in ("mean", "marginal"):
            noise = self.net_.sample_noise(_POOL_SIZE, gen)
            with torch.no_grad():
                S = self.net_.generate(noise, None, self._overrides(), generator=gen)
            pool = S[:, self.net_.block(j)].clone()
            if how == "marginal":
                mode, val = "pool", pool
            elif self.schema_.specs[j].kind == "continuous":
                mean_value = float(np.mean(self._state_to_values(j, pool)))
                mode, val = "const", self._values_to_state(j, [mean_value],
                                                           integer_only=False)[0]
            else:
                mode, val = "const", pool.mean(0)
        elif isinstance(how, str) and self.schema_.specs[j].kind == "continuous":
            raise ValueError(f"how must be 'mean', 'marginal' or a value, got {how!r}")
        else:
            if isinstance(how, Number) and not np.isfinite(how):
                raise ValueError(f"how={how!r} is not a finite value")
            mode, val = "const", self._values_to_state(j, [how], integer_only=False)[0]
        new._edge_overrides = dict(self._edge_overrides)
        new._edge_overrides[(parent, child)] = {"mode": mode, "how": how if isinstance(
            how, (str, Number)) else str(how)}
        new._override_tensors = dict(self._override_tensors)
        new._override_tensors[(parent, child)] = val.detach().clone()
        new._refresh_graph()
        return new

    def to_gcm(self):
        """This trained model as a FITTED ``dowhy.gcm.InvertibleStructuralCausalModel``.

        No refit: every node's mechanism evaluates this model's own net for that node
        (roots sample their trained marginals; non-root nodes are invertible in their one
        scalar noise). Removed edges are absent from the exported graph. See
        :func:`dowhy_ccgm.gcm.to_gcm`.
        """
        from .gcm._export import to_gcm
        return to_gcm(self)

    @property
    def removed_edges_(self) -> list:
        self._check_fitted()
        return list(self._edge_overrides)

    def transform(self, X) -> pd.DataFrame:
        """Latents of observed rows: ``z_<node>`` for continuous nodes, ``eps_<node>``
        for noise latents.

        Under ``objective="exact"`` these are the exact abducted latents (the decoders'
        inverses and the noise that reproduces each row); under the ELBO, the encoder's
        posterior means."""
        u, codes, Xg = self._observed(X)
        with torch.no_grad(), torch_threads(self.n_threads):
            if self.net_.objective == "exact":
                ab = self.net_.abduct(u, codes, generator=torch_generator(0))
                mu = torch.cat([ab["z"], ab["eps"]], -1).cpu().numpy()
            else:
                mu = self.net_.encode(u, codes).cpu().numpy()
        names = [f"z_{self.nodes_[i]}" for i in self.net_.cont] + \
            [f"eps_{self.nodes_[i]}" for i in self.net_.noisy]
        return pd.DataFrame(mu, columns=names, index=Xg.index)

    def get_feature_names_out(self, input_features=None):
        self._check_fitted()
        return np.asarray([f"z_{self.nodes_[i]}" for i in self.net_.cont]
                          + [f"eps_{self.nodes_[i]}" for i in self.net_.noisy], dtype=object)

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per row, in nats on the data's own scale (higher is better).

        With ``objective="exact"`` this is the exact log-likelihood (change of
        variables through the decoders and masks); with ``objective="elbo"`` it is the
        ELBO (one Monte-Carlo draw with a fixed seed, so it is reproducible).
        """
        u, codes, _ = self._observed(X)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            out = self.net_.losses(u, codes, sample=True)
        bound = out["recon"] if self.net_.objective == "exact" else out["recon"] + out["kl"]
        log_jac = float(sum(np.log(self.schema_.by_name[c].sd) for c in self.schema_.cont))
        return float(-bound - log_jac)

    # ================================================================== persistence
    def _meta(self) -> dict:
        params = self.get_params(deep=False)
        params.pop("graph")
        rs = params.get("random_state")
        params["random_state"] = rs if (rs is None or isinstance(rs, (int, np.integer))) else None
        params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
        if params.get("exogenous") is not None:
            params["exogenous"] = [_enc_name(e) for e in params["exogenous"]]
        if params.get("column_types") is not None:
            params["column_types"] = {"pairs": [[_enc_name(k), v] for k, v in
                                                params["column_types"].items()]}
        schema = self.schema_.to_json()
        for spec in schema["specs"]:
            spec["name"] = _enc_name(spec["name"])
        schema["columns"] = [_enc_name(c) for c in schema["columns"]]
        return {
            "format": _FORMAT, "version": _FORMAT_VERSION,
            "params": params,
            "graph_nodes": [_enc_name(v) for v in self.graph.nodes],
            "graph_edges": [[_enc_name(a), _enc_name(b)] for a, b in self.graph.edges],
            "nodes": [_enc_name(v) for v in self.nodes_],
            "exogenous": [_enc_name(v) for v in self.exogenous_], "order": self.net_.order,
            "mask": self.net_.mask.cpu().numpy().astype(int).tolist(),
            "schema": schema,
            "feature_names_in": [_enc_name(c, "column name") for c in self.feature_names_in_],
            "edge_overrides": [[_enc_name(p), _enc_name(c), ov["mode"], ov["how"]]
                               for (p, c), ov in self._edge_overrides.items()],
            "n_latent_agg": int(self.net_.agg_mu.shape[0]),
            "encoder_fitted": bool(self.encoder_fitted_),
            "history": {k: v for k, v in self.history_.items() if k != "lagrangian"},
            "lagrangian": self.history_.get("lagrangian"),
        }

    def save(self, path) -> None:
        """Write the fitted model to one file: tensors plus JSON metadata.

        Loading never unpickles arbitrary objects (``torch.load(weights_only=True)``).
        """
        self._check_fitted()
        payload = {
            "meta": json.dumps(self._meta(), default=str),
            "state": {k: v.detach().cpu() for k, v in self.net_.state_dict().items()},
            "overrides": [self._override_tensors[k].cpu() for k in self._edge_overrides],
            "rng": self._rng.get_state(),
        }
        try:
            torch.save(payload, path)
        except (OSError, RuntimeError) as exc:
            raise OSError(f"cannot write the model to {path!s}: {exc}") from None

    @classmethod
    def load(cls, path, device="cpu") -> "CCGMGenerator":
        """Load a model written by ``save``; refuses foreign or unsafe files."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"no model file at {path!s}")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # any failure of the safe unpickler means: refuse
            raise ValueError(f"{path!s} is not a readable dowhy_ccgm model file (it is corrupt, "
                             f"or holds objects other than tensors and plain data, which are "
                             f"refused for safety): {exc}") from None
        try:
            meta = json.loads(payload["meta"])
            ok = meta.get("format") == _FORMAT
        except (TypeError, KeyError, json.JSONDecodeError, AttributeError):
            ok = False
        if not ok:
            raise ValueError(f"{path!s} is not a dowhy_ccgm CCGMGenerator model file")
        if meta["version"] > _FORMAT_VERSION:
            raise ValueError(f"{path!s} was written by a newer dowhy_ccgm (format "
                             f"{meta['version']}); upgrade to load it")
        try:
            graph = nx.DiGraph()
            graph.add_nodes_from(_dec_name(v) for v in meta["graph_nodes"])
            graph.add_edges_from((_dec_name(a), _dec_name(b)) for a, b in meta["graph_edges"])
            for spec in meta["schema"]["specs"]:
                spec["name"] = _dec_name(spec["name"])
            meta["schema"]["columns"] = [_dec_name(c) for c in meta["schema"]["columns"]]
            meta["nodes"] = [_dec_name(v) for v in meta["nodes"]]
            meta["exogenous"] = [_dec_name(v) for v in meta["exogenous"]]
            meta["feature_names_in"] = [_dec_name(c) for c in meta["feature_names_in"]]
            meta["edge_overrides"] = [[_dec_name(p), _dec_name(c), m, h]
                                      for p, c, m, h in meta["edge_overrides"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path!s}: the model description is damaged ({exc!r})") from None
        params = dict(meta["params"])
        if params.get("exogenous") is not None:
            params["exogenous"] = [_dec_name(e) for e in params["exogenous"]]
        ct = params.get("column_types")
        if isinstance(ct, dict) and set(ct) == {"pairs"}:
            params["column_types"] = {_dec_name(k): v for k, v in ct["pairs"]}
        params["device"] = device
        if params.get("variant") == "causalvae" and params.get("objective") == "exact":
            params["objective"] = None   # files of 0.1.0: the objective was switched silently
        self = cls(graph, **params)
        schema = Schema.from_json(meta["schema"])
        specs = schema.specs
        exo = meta["exogenous"]
        nodes = meta["nodes"]
        net = CCGMNet([s.kind for s in specs],
                      [len(s.categories) if s.kind != "continuous" else 0 for s in specs],
                      [c in exo for c in nodes], torch.as_tensor(meta["mask"]),
                      meta["order"], variant=self.variant, hidden=self.hidden,
                      n_layers=self.n_layers, encoder_hidden=self.encoder_hidden,
                      prior=self.prior, objective=self._objective())
        state = payload["state"]
        for name in ("agg_mu", "agg_sd"):
            if name in state:
                setattr(net, name, torch.zeros_like(state[name]))
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{path!s}: weights do not match the model description: {exc}") \
                from None
        net.eval()
        self.net_ = net.to(resolve_device(device))
        self.schema_ = schema
        self.nodes_ = nodes
        self.exogenous_ = exo
        self.feature_names_in_ = _object_array(meta["feature_names_in"])
        self.n_features_in_ = len(self.feature_names_in_)
        self.encoder_fitted_ = bool(meta.get("encoder_fitted", True))
        self.history_ = dict(meta["history"])
        self.history_["lagrangian"] = meta.get("lagrangian")
        self._edge_overrides = {}
        self._override_tensors = {}
        for (p, c, mode, how), t in zip(meta["edge_overrides"], payload["overrides"]):
            self._edge_overrides[(p, c)] = {"mode": mode, "how": how}
            self._override_tensors[(p, c)] = t
        self._rng = torch.Generator()
        self._rng.set_state(payload["rng"])
        self._refresh_graph()
        return self
