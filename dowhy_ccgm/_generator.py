"""``CCGMGenerator``: the scikit-learn front end of the CCGM model.

The estimator holds parameters and one fitted value (:class:`~dowhy_ccgm._fitted.FittedCCGM`);
fitting is :func:`dowhy_ccgm._fit.fit_model`, the parameter table is
:mod:`dowhy_ccgm._params`, persistence :mod:`dowhy_ccgm._persist` and the edge-removal
policy :mod:`dowhy_ccgm._removal`.
"""
from __future__ import annotations

import copy

import networkx as nx

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _persist
from ._fit import fit_model, warn_if_not_converged
from ._fitted import MAX_SAMPLES, FittedCCGM
from ._params import PARAMETER_CONSTRAINTS, check_parameters
from ._removal import DEFAULT_HOW
from ._simple import atom_kinds, mechanism_kinds
from ._utils import seed_from, torch_generator, torch_threads

__all__ = ["CCGMGenerator"]


def _graph_repr(graph, max_edges: int = 6) -> str:
    edges = [f"{a!r}->{b!r}" for a, b in list(graph.edges)[:max_edges]]
    more = graph.number_of_edges() - len(edges)
    shown = ", ".join(edges) + (f", ... {more} more" if more > 0 else "")
    return (f"DiGraph({graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges: "
            f"{shown})")


def _available_bytes() -> int | None:
    """The memory the system can still give (MemAvailable on Linux), else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: outputs smaller than this are not checked against the available memory
_MEMORY_CHECKED_FROM = 16 * 2**20


def _check_memory(model, n_rows: int, what: str) -> None:
    """Refuse a call whose output (and its state rows) would not fit in memory, saying how
    much it would take, instead of running until the system kills the process."""
    need = n_rows * (8 * len(model.schema.columns) + 8 * model.net.width)
    if need < _MEMORY_CHECKED_FROM:       # (no system call on the many small draws)
        return
    free = _available_bytes()
    if free is not None and need > 0.8 * free:
        raise MemoryError(
            f"{what} of {n_rows:,} rows would hold about {need / 2**30:.1f} GiB in memory "
            f"(about {free / 2**30:.1f} GiB is available): draw fewer rows per call, or "
            "write them in partitions with dowhy_ccgm.parquet.sample_to_parquet")


def _check_n_samples(n_samples) -> int:
    if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if n_samples > MAX_SAMPLES:
        raise ValueError(f"n_samples={n_samples:,} is more rows than one call generates (at "
                         f"most {MAX_SAMPLES:,}); draw in several calls")
    return int(n_samples)


class CCGMGenerator(TransformerMixin, BaseEstimator):
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
        ``{column: "continuous" | "zero_inflated" | "binary" | "categorical" | dict}``
        overriding dtype detection. A continuous column may carry up to four *point
        masses* (atoms): a value many rows share exactly, such as zeros of earnings, a
        survey's top-code, a floor, a round value. A float column's value held by at least
        0.5% of the rows (and 20 rows) and 10 times as often as any other value is
        detected as one; so is the minimum or maximum of an integer or fixed-decimal
        column held twice as often as its neighbouring value. Each atom has a
        probability that depends on the parents, and the continuous model fills the rest,
        truncated above a floor and below a cap (nothing is ever generated beyond a cap;
        censoring beyond it is not modelled). Samples, interventions, counterfactuals and
        ``score`` put the data's exact values at the atoms (``objective="exact"`` only).
        Float columns whose values all lie on a lattice of ``10^-d`` (d = 0..4: grades
        recorded to one decimal, prices to cents) are dequantized in training and come
        back on their lattice, like integer columns. Declare a dict ``{"atoms": [0,
        99999], "step": 0.1}`` (either key optional, ``"auto"`` to detect, ``[]`` / ``0``
        for none) to set them; ``"zero_inflated"`` is ``{"atoms": [0]}``, and
        ``"continuous"`` a plain continuous column (no atoms, no float lattice).
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
    parent_balance : float in [0, 1], default=0.5
        The exact fit weighs each node's likelihood term of a row by the share of the
        row's values of that node's binary and categorical parents, to the power
        ``-parent_balance`` (a cell's count floored at 20 rows, the weights normalised to
        mean 1): a treated group or a condition of 1% then shapes its mechanism instead
        of taking the majority's. Each weight is constant given the node's parents, so
        where the model can fit every parent value the optimum is the same conditional
        distribution; 0 is the plain likelihood, 1 gives every parent cell the same
        weight. Nodes without a discrete parent are not weighted. See
        :mod:`dowhy_ccgm._balance` and ``benchmarks/bench_balance.py``.
    mechanisms : {"auto", "linear", "additive", "interaction", "network"} or dict, \
default="auto"
        The mechanism of each continuous node, chosen after the exact fit
        (:mod:`dowhy_ccgm._simple`): ``"linear"``, an additive noise model linear in the
        parents (``u = b + beta . pa + s eps`` in the node's standardized value);
        ``"additive"``, the same plus a restricted cubic spline of every continuous
        parent (5 knots at its quantiles; additive, smooth, linear beyond the data);
        ``"interaction"``, the linear one with slopes that differ between the two values
        of a binary parent (a treatment whose effect varies with the other parents; the
        binary parent with the best fit among the four with the largest linear slopes,
        ``history_["mechanisms"]``'s ``modifier``); ``"network"``, the fitted network (a
        location-scale mechanism with a learned monotone decoder). ``"auto"``: the best
        of linear, additive and interaction by BIC, kept
        unless the network's held-out likelihood is significantly better (by more than
        1.96 standard errors of the paired row differences: Vuong's test), else the
        network; a kind: that kind for every eligible node; a dict ``{node: kind}``: those nodes as
        named, the others ``"auto"``. Eligible: continuous endogenous nodes with their own noise
        (``variant="ccgm_noise"``), not exact formulas; the others keep the network (naming one in
        the dict is an error). A many-level categorical parent enters the simple mechanisms as its
        levels' indicators (in the logistic regressions with a N(0, 1) prior on each level's shift
        of the log-odds); under ``"auto"`` a node with such a parent keeps the network (its atom
        probabilities included) unless the dict names it. The chosen kinds are ``mechanisms_``; the
        validation behind them is ``history_["mechanisms"]``. ``"network"`` is the model before this
        choice existed. A node with point masses takes the kind for its continuous part between the
        atoms (location and scale in its decoder's latent units, fitted by the truncated normal's
        likelihood below a cap and above a floor); under ``"auto"`` the part keeps the network
        unless the simple part's held-out likelihood is significantly better, or fewer than 20
        held-out rows lie off the atoms (a rare cell's part: the 15 sale days of DoWhy's online
        shop). Its atom probabilities are a multinomial logistic regression on the parents under the
        simple kinds, the network's under ``"network"`` (or the node named ``"network"`` in the
        dict), and by the held-out comparison under ``"auto"`` (``atom_mechanisms_``). A binary or
        categorical endogenous node (not a many-level one, whose logits come through a low-rank
        head) named ``"linear"`` in the dict is a (multinomial) logistic regression on its parents
        (the remedy where ``check``'s likelihood finds the network worse than that baseline), named
        ``"network"`` the network; under ``"auto"`` its logits are ``a * network + (1 - a) *
        logistic`` (``"blend"``), the share ``a`` in 0.05, 0.10, ..., 0.95 or 1 (the network
        alone) the one with the best held-out likelihood of the classes. A pure logistic
        regression is not chosen under ``"auto"``: on Adult it had the better held-out likelihood
        but the synthetic data lost 0.008 of a downstream classifier's AUROC
        (``benchmarks/bench_mechanisms.py``).
    prior : {"standard", "conditional"}
        KL to ``N(0, I)`` or to the conditional prior ``N(u_n, I)``.
    learn_structure : bool or "paper", default=False
        ``False``: ``graph`` is the causal graph. ``True``: learn the graph from the data
        under ``knowledge`` (:func:`dowhy_ccgm.structure.learn_graph`: a hill-climbing search
        with a penalised likelihood of additive nonlinear mechanisms, at its defaults: for
        another ``min_r2``, call it and fit on its graph), then fit the model on it in the
        same call; ``graph`` may be None (the nodes are ``X``'s columns) or a
        graph whose edges start the search (or bound it, ``knowledge.given``), and
        ``exogenous`` nodes get no parents. The learned graph, with each edge's ``score``
        (and ``confidence`` with ``structure_bootstrap``), is ``learned_graph_``.
        ``"paper"``: the paper's way, the causal layer's ``G`` learned under the DAG
        penalty in the ELBO loop (every edge not into an exogenous node allowed, in the
        given graph's node order); the learned DAG keeps edges with ``|G| >
        edge_threshold``. ``benchmarks/bench_structure.py`` compares the two.
    knowledge : Knowledge, dict or None, default=None
        What is known about the graph when ``learn_structure=True``: required and
        forbidden edges, tiers, exogenous nodes (:class:`dowhy_ccgm.structure.Knowledge`;
        a dict of its fields). Contradictions are errors naming the edges.
    structure_bootstrap : int, default=0
        With ``learn_structure=True``: resamples of the rows on which the search is rerun
        to give every learned edge a ``confidence`` (the share that found it).
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
    root_sampling : {"empirical", "copula", "independent"}, default="empirical"
        How new units get their root nodes. ``"empirical"``: jointly, as the roots of a
        training row drawn at random (their joint law, correlations included, is the
        data's; no root combination outside the data is produced, and the model keeps up
        to 200,000 training rows' root noise); ``"copula"``: each root from its own trained
        marginal, joined by a Gaussian copula estimated from the roots' normal scores (new
        root values and combinations, rank correlations kept; the model keeps only a
        k x k matrix, no training rows; it assumes the roots' dependence is Gaussian on
        the normal-score scale and relies on the trained marginals' tails);
        ``"independent"``: each root from its own trained marginal (the paper; new
        combinations, but correlated roots come out independent). Chosen by measurement
        (``benchmarks/RESULTS.md``, ``tests/test_roots.py``: four roots with correlations
        up to 0.7 give a generated correlation error below 0.05 against above 0.5, and an
        unbiased ``do()`` effect against one off by over 0.15; on independent roots both
        are equally accurate).
        Interventions on a root leave the other roots' joint law unchanged;
        counterfactuals keep the units' own roots; ``to_gcm`` exports the stored root
        rows (``"copula"``: 100,000 rows drawn from the copula) as one block of
        :class:`~dowhy_ccgm.gcm.JointEmpiricalDistribution` (DoWhy draws them jointly too),
        and each root's trained marginal under ``"independent"``.
    extra_columns : {"raise", "drop"}
        What to do with data columns that are not graph nodes.
    objective : {None, "exact", "elbo"}, default=None
        ``"elbo"`` trains the paper's VAE objective (reconstruction + KL + l_u + l_z +
        DAG penalty). ``"exact"`` uses that the decoders and masks are invertible:
        the exact log-likelihood by change of variables replaces reconstruction + KL.
        It is more accurate (see the docs' benchmark; with ``variant="ccgm_noise"`` the
        ELBO's encoder folds a node's dependence on its parents into its noise latent, so
        interventions on roots barely reach their children). ``None``: ``"exact"``, except
        for ``variant="causalvae"``, which is defined by its encoder-inferred noise and
        trains the ELBO (asking for ``"exact"`` with it is an error).
    progress_bar : bool, optional
        Default follows ``dowhy.gcm.config.show_progress_bars``.
    n_threads : int, optional
        Torch intra-op threads for fitting and generating. ``None`` (default) chooses per
        call: 1 for small steps (small MLPs run fastest single-threaded), 2 where a step
        is large enough to pay (a training batch or generated chunk of at least 8,192
        rows x nodes: e.g. 100k rows, or a 100-node graph), never more than torch's own
        setting (``torch.set_num_threads``, ``OMP_NUM_THREADS``). Results are the same
        for any number of threads.
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
    model_ : FittedCCGM
        The fitted model as an immutable value (net, schema, node order, exogenous nodes,
        removed edges); ``remove_edge`` shares its net with the original.
    net_ : CCGMNet
        The torch module (``model_.net``).
    schema_ : Schema
        The columns' kinds, categories and standardization (``model_.schema``).

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
                 latent_weight=1.0, parent_balance=0.5, mechanisms="auto", prior="standard",
                 learn_structure=False, knowledge=None, structure_bootstrap=0,
                 edge_threshold=0.1, validation_fraction=0.1, patience=None,
                 extra_columns="raise", objective=None, fit_encoder=False,
                 root_sampling="empirical", progress_bar=None, n_threads=None,
                 random_state=None, device="auto"):
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
        self.parent_balance = parent_balance
        self.mechanisms = mechanisms
        self.prior = prior
        self.learn_structure = learn_structure
        self.knowledge = knowledge
        self.structure_bootstrap = structure_bootstrap
        self.edge_threshold = edge_threshold
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.extra_columns = extra_columns
        self.objective = objective
        self.fit_encoder = fit_encoder
        self.root_sampling = root_sampling
        self.progress_bar = progress_bar
        self.n_threads = n_threads
        self.random_state = random_state
        self.device = device

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS

    def __sklearn_tags__(self):
        """What the estimator takes (scikit-learn's tags tell the truth): a DataFrame whose
        columns are the graph's nodes, with string and categorical columns; no plain 2-D
        arrays, no sparse input; unsupervised (``y`` is ignored)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.target_tags.required = False
        tags.requires_fit = True
        return tags

    def __repr__(self, N_CHAR_MAX=700):
        """scikit-learn's repr with the graph shown compactly (its nodes and edges)."""
        text = super().__repr__(N_CHAR_MAX)
        if isinstance(self.graph, nx.DiGraph):
            text = text.replace(repr(self.graph), _graph_repr(self.graph))
        return text

    # ================================================================== fit
    def _check_params(self):
        check_parameters(self.get_params(deep=False), type(self).__name__)

    def fit(self, X, y=None, groups=None):
        """Fit the model on a DataFrame whose columns are the graph's nodes.

        Parameters
        ----------
        X : pandas.DataFrame
            Missing cells (NaN) are fitted by the likelihood of the observed factors.
        y : ignored (present for Pipeline compatibility)
        groups : array-like, optional
            One label per row; rows with equal labels stay on one side of the validation
            split (scikit-learn's meaning of ``groups``): a resample's duplicates, or a
            cluster's rows, so early stopping sees rows the training never saw. The refit
            bootstrap (:func:`dowhy_ccgm.bootstrap.bootstrap`) passes each resampled row's
            original row.

        Returns
        -------
        self
        """
        self._check_params()
        res = fit_model(self.get_params(deep=False), X, groups)
        self._set_fitted(res.model, res.history, res.columns, res.encoder_fitted,
                         torch_generator(res.seed + 1))
        if res.learned_graph is not None:
            self.learned_graph_ = res.learned_graph
        elif hasattr(self, "learned_graph_"):
            del self.learned_graph_
        self._warn_if_not_converged()
        return self

    def _set_fitted(self, model: FittedCCGM, history: dict, columns, encoder_fitted: bool,
                    rng: torch.Generator) -> None:
        """Every fitted attribute, from the fitted value (fit, load and remove_edge)."""
        self.model_ = model
        self.history_ = history
        self.exogenous_ = list(model.exogenous)
        self.feature_names_in_ = _persist.object_array(columns)
        self.n_features_in_ = len(self.feature_names_in_)
        self.encoder_fitted_ = bool(encoder_fitted)
        self._rng = rng
        self.adjacency_ = model.adjacency()
        self.graph_ = model.graph()

    def _warn_if_not_converged(self):
        warn_if_not_converged(self.history_, self.get_params(deep=False),
                              type(self).__name__, stacklevel=3)

    # ================================================================== fitted state
    def _check_fitted(self):
        check_is_fitted(self, msg=f"This {type(self).__name__} instance is not fitted yet; "
                                  "call fit(X) first")

    def __sklearn_is_fitted__(self) -> bool:
        return "model_" in self.__dict__

    @property
    def net_(self):
        self._check_fitted()
        return self.model_.net

    @property
    def schema_(self):
        self._check_fitted()
        return self.model_.schema

    @property
    def nodes_(self) -> list:
        self._check_fitted()
        return list(self.model_.nodes)

    @property
    def removed_edges_(self) -> list:
        """The removed edges ``[(parent, child), ...]`` in the order they were removed."""
        self._check_fitted()
        return self.model_.removed_pairs()

    @property
    def mechanisms_(self) -> dict:
        """``{node: kind}`` of every node with a mechanism (the roots have none):
        ``"linear"``, ``"additive"``, ``"interaction"``, ``"network"``, ``"blend"`` (a
        binary or categorical node's network logits blended with a logistic regression's,
        chosen under ``"auto"``) or ``"formula"`` (``mechanisms``; the validation behind an
        automatic choice is ``history_["mechanisms"]``)."""
        self._check_fitted()
        return {self.model_.nodes[i]: k
                for i, k in mechanism_kinds(self.model_.net).items()}

    @property
    def atom_mechanisms_(self) -> dict:
        """``{node: "logistic" or "network"}`` for every node with point masses and a
        mechanism: how its atom probabilities depend on its parents (a multinomial
        logistic regression on the parents, kept unless the network's held-out
        likelihood of the atoms is significantly better, or the network's own; the
        continuous part between the atoms is ``mechanisms_``'s kind)."""
        self._check_fitted()
        return {self.model_.nodes[i]: k
                for i, k in atom_kinds(self.model_.net).items()}

    def _gen(self, random_state):
        if random_state is None:
            return self._rng
        return torch_generator(seed_from(random_state))

    # ================================================================== public API
    def sample(self, n_samples: int, random_state=None) -> pd.DataFrame:
        """Draw ``n_samples`` rows from the (possibly edge-removed) model.

        Returns a DataFrame with the training columns and dtypes.
        """
        self._check_fitted()
        n = _check_n_samples(n_samples)
        _check_memory(self.model_, n, "sample")
        return self.model_.sample(n, self._gen(random_state))

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
        n = _check_n_samples(n_samples)
        _check_memory(self.model_, n, "intervene")
        if not isinstance(interventions, dict) or not interventions:
            raise ValueError("interventions must be a non-empty dict {node: value or callable}")
        return self.model_.sample(n, self._gen(random_state), interventions)

    def counterfactual(self, X, interventions: dict, random_state=None,
                       abduction: str = "exact") -> pd.DataFrame:
        """Unit-level counterfactuals: abduct each row's noise, apply ``do``, predict.

        ``abduction="exact"`` inverts the decoder and masks (exact for continuous
        nodes; a discrete node's noise is drawn from its posterior interval);
        ``"encoder"`` uses the VAE encoder's posterior mean (CausalVAE's way).
        With ``variant="ccgm"`` endogenous nodes carry no noise, so their
        counterfactual is the mechanism's value at the new parents. After
        ``remove_edge`` the removed parent's input is its reference value in abduction
        and prediction alike (see :mod:`dowhy_ccgm._removal`): with no intervention
        the units' observed values come back.
        """
        if abduction not in ("exact", "encoder"):
            raise ValueError(f"abduction must be 'exact' or 'encoder', got {abduction!r}")
        self._check_fitted()
        if abduction == "encoder" and not self.encoder_fitted_:
            raise ValueError("abduction='encoder' needs a trained encoder: this model was fit "
                             "by the exact likelihood without one; refit with "
                             "fit_encoder=True (or use abduction='exact', which is exact)")
        if interventions is not None and not isinstance(interventions, dict):
            raise ValueError("interventions must be a dict {node: value or callable} (or "
                             f"None / {{}} for none), got {type(interventions).__name__}")
        return self.model_.counterfactual(X, interventions, self._gen(random_state),
                                          abduction, extra_columns=self.extra_columns)

    def path_specific(self, reference: dict, paths=(), *, interventions: dict | None = None,
                      X=None, n_samples: int | None = None, random_state=None
                      ) -> pd.DataFrame:
        """Nested counterfactuals along paths: each node of ``reference`` acts with its
        reference value along every path out of it, except the named ``paths``, which
        carry its own value (its natural one, or ``interventions``').

        The basis of path-specific effects (natural direct and indirect effects:
        :mod:`dowhy_ccgm.fairness`) and of path-specific fair data: with ``paths=[]`` no
        influence of the reference nodes reaches any other node, while their own columns
        keep their values. Both worlds share the units' noise; a child reads a parent from
        the reference world when their edge lies on no named path
        (:mod:`dowhy_ccgm._paths`; crossings that no such rule separates are refused).

        Parameters
        ----------
        reference : dict
            ``{node: value}`` (a scalar or one value per unit): the value carried by the
            paths that are not named.
        paths : list of lists of nodes
            Paths that start at a reference node and carry its own value.
        interventions : dict, optional
            ``do()`` on the units: on a reference node, its value in the path-specific
            world (e.g. the treated value; the reference world keeps the reference
            value); on any other node, in both worlds (a child reading the reference
            world sees it too).
        X : DataFrame, optional
            Unit level (the units' noise abducted from ``X``), or
        n_samples : int, optional
            population level (new units).

        Examples
        --------
        >>> import networkx as nx, numpy as np, pandas as pd
        >>> from dowhy_ccgm import CCGMGenerator
        >>> rng = np.random.default_rng(0)
        >>> a = rng.integers(0, 2, 500); m = a + rng.normal(size=500)
        >>> df = pd.DataFrame({"A": a, "M": m, "Y": 2 * a + m + rng.normal(size=500)})
        >>> gen = CCGMGenerator(nx.DiGraph([("A", "M"), ("A", "Y"), ("M", "Y")]), epochs=5,
        ...                     progress_bar=False, random_state=0).fit(df)
        >>> # Y(A=1 directly, M at its A=0 value): the natural direct effect's treated arm
        >>> gen.path_specific({"A": 0}, [["A", "Y"]], interventions={"A": 1},
        ...                   n_samples=3).shape
        (3, 3)
        """
        from ._paths import reference_edges
        self._check_fitted()
        if not isinstance(reference, dict) or not reference:
            raise ValueError("reference must be a non-empty dict {node: value}, got "
                             f"{reference!r}")
        if interventions is not None and not isinstance(interventions, dict):
            raise ValueError("interventions must be a dict {node: value} or None, got "
                             f"{type(interventions).__name__}")
        if isinstance(paths, (str, bytes)) or (paths and not isinstance(paths[0], (list, tuple))):
            raise TypeError(f"paths must be a list of paths (lists of nodes), got {paths!r}")
        edges = reference_edges(self.model_.graph(), reference, paths)
        # the reference world: the other interventions too (a do() on a node that is not
        # a reference node holds for the unit, whichever world a child reads it from)
        world = {**{k: v for k, v in (interventions or {}).items() if k not in reference},
                 **reference}
        if (n_samples is None) == (X is None):
            raise ValueError("give exactly one of n_samples (population level) or X (unit "
                             "level)")
        if X is not None:
            return self.model_.counterfactual(X, interventions or None, self._gen(random_state),
                                              extra_columns=self.extra_columns,
                                              reference=world, reference_edges=edges)
        n = _check_n_samples(n_samples)
        _check_memory(self.model_, n, "path_specific")
        return self.model_.sample(n, self._gen(random_state), interventions or None,
                                  reference=world, reference_edges=edges)

    def remove_edge(self, parent, child, how=DEFAULT_HOW, random_state=None
                    ) -> "CCGMGenerator":
        """A NEW fitted generator whose ``child`` no longer depends on ``parent``.

        No retraining, and the net is shared (not copied). In place of the parent the
        child is fed ``how="marginal"`` (the default, as ``dowhy.gcm.arrow_strength``
        removes an edge) an independent draw from the parent's marginal,
        ``how="mean"`` the mean of a continuous parent, or a fixed value (a number or
        a category). Unit-level counterfactuals see the parent's reference value (its
        mean, or its most frequent category); :mod:`dowhy_ccgm._removal` states the
        policy, shared with ``to_gcm`` and :func:`dowhy_ccgm.gcm.remove_edge`. The
        original generator, its random stream included, is left untouched.
        """
        self._check_fitted()
        if random_state is not None:
            gen = self._gen(random_state)
        else:   # a seed read from a copy of this model's stream: the original's own
            # random stream is left exactly where it was
            peek = torch.Generator()
            peek.set_state(self._rng.get_state())
            gen = torch_generator(int(torch.randint(0, 2**31 - 1, (1,), generator=peek)))
        model = self.model_.without_edge(parent, child, how, gen)
        new = copy.copy(self)
        rng = torch.Generator()
        rng.set_state(self._rng.get_state())
        new._set_fitted(model, dict(self.history_), list(self.feature_names_in_),
                        self.encoder_fitted_, rng)
        return new

    def check(self, X, groups=None, *, n_samples: int | None = None, random_state=0):
        """Check the model against observed rows ``X`` before trusting its answers: every
        column's distribution and point masses, every pair's dependence, and every
        mechanism within the levels of its binary and categorical parents and within
        ``groups`` (a column name, one label per row, or ``{name: labels}``), each with a
        flag where the model misfits beyond sampling noise; and each continuous node's
        noise share. See :func:`dowhy_ccgm.check.model_check`.

        Returns
        -------
        dowhy_ccgm.check.ModelCheck
            Its ``flags`` list every misfit in words (empty when none); ``print`` it.
        """
        from .check import model_check
        return model_check(self, X, groups, n_samples=n_samples, random_state=random_state)

    def to_gcm(self):
        """This trained model as a FITTED ``dowhy.gcm.InvertibleStructuralCausalModel``.

        No refit: every node's mechanism evaluates this model's own net for that node
        (roots sample their trained marginals; non-root nodes are invertible in their one
        scalar noise). Removed edges are absent from the exported graph. See
        :func:`dowhy_ccgm.gcm.to_gcm`.
        """
        from .gcm._export import to_gcm
        return to_gcm(self)

    def transform(self, X) -> pd.DataFrame:
        """Latents of observed rows: ``z_<node>`` for continuous nodes, ``eps_<node>``
        for noise latents.

        Under ``objective="exact"`` these are the exact abducted latents (the decoders'
        inverses and the noise that reproduces each row; for an integer or lattice node,
        the noise of its value's cell centre, a function of the row: counterfactuals
        draw it within the cell instead); under the ELBO, the encoder's posterior
        means."""
        self._check_fitted()
        method = "exact" if self.model_.net.objective == "exact" else "encoder"
        return self.model_.latents(X, method, extra_columns=self.extra_columns)

    def get_feature_names_out(self, input_features=None):
        self._check_fitted()
        return np.asarray(self.model_.latent_names(), dtype=object)

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per row, in nats on the data's own scale (higher is better).

        With ``objective="exact"`` this is the exact log-likelihood (change of
        variables through the decoders and masks); with ``objective="elbo"`` it is the
        ELBO (one Monte-Carlo draw with a fixed seed, so it is reproducible).

        Scores are comparable across settings that share the objective (``hidden``,
        ``epochs``, ...). An ELBO is only a LOWER bound of the log-likelihood, so an exact
        score and an ELBO score are not comparable: do not let a search (e.g.
        ``GridSearchCV`` over ``variant`` or ``objective``) choose between them by score.
        """
        self._check_fitted()
        u, codes, _ = self.model_.observed(X, self.extra_columns)
        net = self.model_.net
        with torch.no_grad(), torch.random.fork_rng(devices=[]), \
                torch_threads(self.n_threads):
            torch.manual_seed(0)
            out = net.losses(u, codes, sample=True)
        bound = out["recon"] if net.objective == "exact" else out["recon"] + out["kl"]
        schema = self.model_.schema
        log_jac = float(sum(np.log(schema.by_name[c].sd) for c in schema.cont))
        return float(-bound - log_jac)

    # ================================================================== persistence
    def save(self, path) -> None:
        """Write the fitted model to one file: tensors plus JSON metadata.

        Loading never unpickles arbitrary objects (``torch.load(weights_only=True)``).
        """
        self._check_fitted()
        _persist.save(_persist.SavedGenerator(
            self.get_params(deep=False), self.graph, self.model_, self.history_,
            list(self.feature_names_in_), self.encoder_fitted_, self._rng.get_state(),
            getattr(self, "learned_graph_", None)), path)

    @classmethod
    def load(cls, path, device="cpu") -> "CCGMGenerator":
        """Load a model written by ``save``; refuses foreign, unsafe or damaged files
        (naming the field at fault)."""
        saved = _persist.load(path, device,
                              check_params=lambda graph, params: cls(
                                  graph, **params)._check_params())
        gen = cls(saved.graph, **saved.params)
        rng = torch.Generator()
        rng.set_state(saved.rng_state)
        gen._set_fitted(saved.model, saved.history, saved.feature_names_in,
                        saved.encoder_fitted, rng)
        if saved.learned_graph is not None:
            gen.learned_graph_ = saved.learned_graph
        return gen
