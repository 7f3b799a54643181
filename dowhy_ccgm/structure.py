"""Structure learning with what the user knows, and a check of a given graph.

Users rarely know every edge but usually know some: which variables come first (tiers:
demographics before treatment before outcome), edges that must exist, edges that cannot,
nodes that have no parents. :class:`Knowledge` holds that and refuses contradictions by
name. :func:`learn_graph` learns the unknown part under it; :func:`graph_check` tests a
given graph against the data. ``CCGMGenerator(learn_structure=True, knowledge=...)`` learns
the graph this way and fits the generative model on it in the same call.

The learner
-----------
A hill-climbing search over DAGs with a penalised likelihood score of *additive nonlinear*
mechanisms (the score of CAM, Buehlmann, Peters and Ernest 2014, fitted in closed form):

* each parent enters its child through a piecewise-linear spline (the parent and hinges at
  its quintiles; binary parents as one column, categorical ones as their indicators);
* a continuous child's score is the Gaussian log-likelihood of its least-squares residuals,
  a binary or categorical child's the log-likelihood of its fitted class probabilities
  (the linear-probability fit on the same features, clipped and renormalised); every
  feature costs ``log(n) / 2`` (BIC) per free output, and every parent what explaining
  ``min_r2`` (1%) of a child's variance gains, ``-n log(1 - min_r2) / 2``: on thousands of
  real rows BIC alone keeps every dependence, also the ones a misspecified mechanism or
  pooled populations create;
* from the required edges (and, with ``given="start"``, the given graph), the move that
  raises the score most among adding an allowed edge, removing one that is not required
  and reversing one is made, skipping moves that would close a cycle, until none raises
  it (reversals matter: an edge added early in the wrong direction is turned once its
  nodes' other parents are in);
* the search runs twice: with every continuous parent through its spline, and with every
  continuous parent entering linearly (one column, one BIC penalty: the score of GES's
  linear Gaussian BIC, which a spline's four extra columns would overcharge on linear
  data); the graph whose total score is the higher is kept (``graph["mechanisms"]`` says
  which, ``graph["scores"]`` holds both totals). A whole-graph choice: chosen node by node,
  the linear family's smaller penalty took a reversed direction wherever a nonlinear
  mechanism is mild, and the nonlinear benchmarks' SHD rose (er-mlp-20-2k 1.0 -> 6.7);
* in the linear family the two directions of an edge tie, and an edge added early in the
  wrong one makes the climb add others that a graph of the same class does not need; so
  the climb is restarted :data:`RESTARTS` times from a perturbation of the best graph
  (a share of its edges removed or reversed, from a fixed seed) and the best score kept.
  The spline family's climb is not restarted: with its additive mechanisms misspecified
  for non-additive data, a higher score was not a better graph (the restarts raised the
  SHD of er-mlp-10-10k from 0 to 3.3);
* with ``n_bootstrap`` the search is rerun on resampled rows and every learned edge gets
  the share of resamples that found it (``confidence``); every edge also carries
  ``score``, the penalised log-likelihood (nats) lost if it were removed.

A continuous child's score depends on its residual variance only through a ratio, so the
search does not read the causal order off the columns' scales (Reisach et al. 2021): raw
and standardised data give the same graph. For a nonlinear additive-noise mechanism the
causal direction has the better score; for a linear Gaussian one the two directions tie and
the graph is only identified up to its Markov equivalence class (give tiers or edges): the
learned DAG is one member of it.

The paper's own way (the causal layer's ``G`` under the acyclicity penalty ``H(G)``,
trained in the ELBO loop) is ``learn_structure="paper"``; ``benchmarks/bench_structure.py``
compares both with PC, GES and DAGMA.
"""
from __future__ import annotations

import copy
import math
import numbers
import warnings
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["Knowledge", "learn_graph", "graph_check", "GraphCheck"]

#: hinge knots of a continuous parent's spline: these quantiles of its values
KNOTS = (0.2, 0.4, 0.6, 0.8)
#: ridge added to the features' Gram matrix (relative to the rows), for stability
RIDGE = 1e-6
#: the smallest fitted class probability of a discrete child's score
MIN_PROB = 1e-3
GIVEN = ("start", "upper_bound")
#: the search reads at most this many rows (a seeded subsample of larger data): the
#: features' Gram matrix costs rows x features^2 once, and the score's precision is far
#: beyond what the search needs well before this size
MAX_ROWS = 200_000
#: the families of mechanisms the search scores a graph with: a continuous parent through
#: its spline, or linearly; ``learn_graph`` keeps the graph of the family that scores best
FAMILIES = ("spline", "linear")
#: perturbed restarts of the hill climbing (:func:`_climb`), the share of the edges each
#: perturbs, and the seed of the perturbations
RESTARTS = 40
PERTURB = 0.3
RESTART_SEED = 0
#: ``learn_graph``'s default ``min_r2``: an edge must explain at least this share of its
#: child's remaining variance
MIN_R2 = 0.01


def _edges(name: str, edges) -> list:
    out = []
    for e in edges or ():
        if not (isinstance(e, (tuple, list)) and len(e) == 2):
            raise ValueError(f"Knowledge {name}: every edge must be a (parent, child) pair, "
                             f"got {e!r}")
        if e[0] == e[1]:
            raise ValueError(f"Knowledge {name}: {e[0]!r} -> {e[1]!r} is a self-loop")
        out.append((e[0], e[1]))
    return out


@dataclass(frozen=True)
class Knowledge:
    """What the user knows about the graph.

    Parameters
    ----------
    required : sequence of (parent, child)
        Edges that must be in the graph.
    forbidden : sequence of (parent, child)
        Edges that must not be.
    tiers : sequence of sequences of nodes
        An order of groups of nodes: no node has a parent in a later tier (demographics,
        then treatment, then outcome). Nodes in no tier are not constrained by it.
    exogenous : sequence of nodes
        Nodes without parents.
    within_tier : bool, default=True
        Whether edges between two nodes of the same tier are allowed.
    given : {"start", "upper_bound"}, default="start"
        What a given graph means to the learner (``CCGMGenerator``'s ``graph`` with
        ``learn_structure=True``): its edges are where the search starts (it may remove
        any of them that is not required, and add others), or the only edges allowed (the
        learner prunes). A graph that is exact needs no learner: ``learn_structure=False``.

    Contradictions (a required edge that is forbidden, points into an exogenous node or
    against the tiers, or closes a cycle with other required edges; a node in two tiers;
    an unknown node) raise a ``ValueError`` naming the edges or nodes.

    Examples
    --------
    >>> from dowhy_ccgm.structure import Knowledge
    >>> kn = Knowledge(tiers=[["age", "sex"], ["treat"], ["income"]],
    ...                required=[("treat", "income")])
    >>> allowed, required = kn.masks(["age", "sex", "treat", "income"])
    >>> bool(allowed[3, 2]), bool(allowed[2, 3]), bool(required[2, 3])
    (False, True, True)
    """

    required: tuple = ()
    forbidden: tuple = ()
    tiers: tuple = ()
    exogenous: tuple = ()
    within_tier: bool = True
    given: str = "start"

    def __post_init__(self):
        object.__setattr__(self, "required", tuple(_edges("required", self.required)))
        object.__setattr__(self, "forbidden", tuple(_edges("forbidden", self.forbidden)))
        if isinstance(self.tiers, (str, bytes)) or any(
                isinstance(t, (str, bytes)) for t in self.tiers):
            raise ValueError("Knowledge tiers must be a sequence of sequences of nodes, e.g. "
                             "[['age', 'sex'], ['treat'], ['income']]")
        object.__setattr__(self, "tiers", tuple(tuple(t) for t in self.tiers))
        if isinstance(self.exogenous, (str, bytes)):
            raise ValueError("Knowledge exogenous must be a sequence of nodes, got the "
                             f"string {self.exogenous!r}")
        object.__setattr__(self, "exogenous", tuple(self.exogenous))
        if self.given not in GIVEN:
            raise ValueError(f"Knowledge given must be one of {GIVEN}, got {self.given!r}")

    @classmethod
    def coerce(cls, value) -> "Knowledge":
        """``value`` as a Knowledge: itself, a dict of its fields, or None (nothing known)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"required", "forbidden", "tiers", "exogenous",
                                           "within_tier", "given"})
            if unknown:
                raise ValueError(f"knowledge has unknown keys {unknown}")
            return cls(**value)
        raise TypeError(f"knowledge must be a Knowledge, a dict or None, got "
                        f"{type(value).__name__}")

    def tier_of(self) -> dict:
        """``{node: tier index}`` of the nodes in a tier."""
        where = {}
        for k, tier in enumerate(self.tiers):
            for v in tier:
                if v in where:
                    raise ValueError(f"Knowledge tiers: node {v!r} is in tier {where[v]} and "
                                     f"in tier {k}")
                where[v] = k
        return where

    def masks(self, nodes) -> tuple[np.ndarray, np.ndarray]:
        """``(allowed, required)``, boolean (p, p) matrices over ``nodes`` (``[j, i]``: the
        edge ``nodes[j] -> nodes[i]``), after checking the knowledge against itself and
        the nodes."""
        nodes = list(nodes)
        idx = {v: k for k, v in enumerate(nodes)}
        named = ([v for e in self.required + self.forbidden for v in e]
                 + [v for t in self.tiers for v in t] + list(self.exogenous))
        unknown = sorted({repr(v) for v in named if v not in idx})
        if unknown:
            raise ValueError(f"Knowledge names nodes that are not columns: "
                             f"{', '.join(unknown)}")
        tier = self.tier_of()
        p = len(nodes)
        allowed = ~np.eye(p, dtype=bool)
        for a, b in self.forbidden:
            allowed[idx[a], idx[b]] = False
        for v in self.exogenous:
            allowed[:, idx[v]] = False
        for a in tier:
            for b in tier:
                if tier[a] > tier[b] or (tier[a] == tier[b] and not self.within_tier):
                    allowed[idx[a], idx[b]] = False
        required = np.zeros((p, p), dtype=bool)
        bad = {"forbidden": [], "into an exogenous node": [], "against the tiers": []}
        for a, b in self.required:
            required[idx[a], idx[b]] = True
            if (a, b) in self.forbidden:
                bad["forbidden"].append((a, b))
            elif b in self.exogenous:
                bad["into an exogenous node"].append((a, b))
            elif not allowed[idx[a], idx[b]]:
                bad["against the tiers"].append((a, b))
        for why, edges in bad.items():
            if edges:
                raise ValueError(f"Knowledge: required edges {why}: "
                                 + ", ".join(f"{a!r} -> {b!r}" for a, b in edges))
        D = nx.DiGraph(list(self.required))
        try:
            cycle = nx.find_cycle(D)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            raise ValueError("Knowledge: the required edges close a cycle: "
                             + ", ".join(f"{a!r} -> {b!r}" for a, b in cycle))
        return allowed, required


# ----------------------------------------------------------------------------- the score
class _Scorer:
    """Every node's penalised log-likelihood under additive spline mechanisms, for any
    parent set, from the features' Gram matrix (continuous children: no pass over the
    rows per score) or their fitted probabilities (discrete children)."""

    def __init__(self, X: pd.DataFrame, kinds: dict, min_r2: float = 0.0,
                 family: str = "spline"):
        n = len(X)
        self.n = n
        #: ``"spline"``: every continuous parent through its spline; ``"linear"``: through
        #: its value alone (a discrete parent keeps its indicators in both)
        self.family = family
        #: nats every parent costs beyond BIC: what explaining ``min_r2`` of a Gaussian
        #: child's variance gains on ``n`` rows
        self.edge_cost = -0.5 * n * math.log1p(-min_r2)
        self.nodes = list(X.columns)
        self.kinds = kinds
        blocks, self.targets, self.levels = [], {}, {}
        for v in self.nodes:
            s = X[v]
            if kinds[v] == "continuous":
                x = s.to_numpy(dtype=np.float64)
                sd = x.std()
                x = (x - x.mean()) / (sd if sd > 0 else 1.0)
                cols = [x]
                for q in np.unique(np.quantile(x, KNOTS)):
                    h = np.maximum(x - q, 0.0)
                    if h.std() > 1e-8:
                        cols.append(h)
                block = np.column_stack(cols)
                self.targets[v] = x
                self.levels[v] = 0
            else:
                codes = pd.Categorical(s).codes.astype(np.int64)
                k = int(codes.max()) + 1 if len(codes) else 1
                onehot = np.zeros((n, max(k, 1)))
                onehot[np.arange(n), codes] = 1.0
                block = onehot[:, 1:] if k > 1 else onehot[:, :0]
                self.targets[v] = codes
                self.levels[v] = k
            blocks.append(block - block.mean(0))
        self.width = [b.shape[1] for b in blocks]
        self.start = np.concatenate([[0], np.cumsum(self.width)]).astype(int)
        F = np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))
        self.F = F
        self.gram = F.T @ F
        self.Fy = {v: F.T @ self.targets[v] for v in self.nodes
                   if kinds[v] == "continuous"}
        self.yy = {v: float(self.targets[v] @ self.targets[v]) for v in self.Fy}
        self.onehot = {v: np.eye(self.levels[v])[self.targets[v]] for v in self.nodes
                       if kinds[v] != "continuous" and self.levels[v] > 1}
        self._cache = {}

    def with_family(self, family: str) -> "_Scorer":
        """The same rows scored under ``family``: the features and their Gram matrix
        shared (the linear family reads a subset of the spline family's columns), a score
        cache of its own."""
        other = copy.copy(self)
        other.family = family
        other._cache = {}
        return other

    def columns(self, parents) -> np.ndarray:
        parents = sorted(int(j) for j in parents)
        linear = self.family == "linear"
        return np.concatenate([
            np.arange(self.start[j], self.start[j] + 1 if linear and self.kinds[
                self.nodes[j]] == "continuous" else self.start[j + 1])
            for j in parents]) if parents else np.zeros(0, dtype=int)

    def score(self, i: int, parents) -> float:
        """Node ``i``'s BIC score given ``parents`` (node indices)."""
        key = (i, frozenset(int(j) for j in parents))
        if key in self._cache:
            return self._cache[key]
        v = self.nodes[i]
        cols = self.columns(parents)
        d = len(cols)
        n = self.n
        if self.kinds[v] == "continuous":
            rss = self.yy[v]
            if d:
                G = self.gram[np.ix_(cols, cols)] + RIDGE * n * np.eye(d)
                b = self.Fy[v][cols]
                rss = rss - float(b @ np.linalg.solve(G, b))
            rss = max(rss, 1e-12 * n)
            ll = -0.5 * n * (math.log(2 * math.pi * rss / n) + 1.0)
            k = d
        else:
            K = self.levels[v]
            if K < 2:
                self._cache[key] = 0.0
                return 0.0
            Y = self.onehot[v]
            P = np.broadcast_to(Y.mean(0), Y.shape).copy()
            if d:
                Fc = self.F[:, cols]
                G = self.gram[np.ix_(cols, cols)] + RIDGE * n * np.eye(d)
                P += Fc @ np.linalg.solve(G, Fc.T @ Y)
            P = np.clip(P, MIN_PROB, None)
            P /= P.sum(1, keepdims=True)
            ll = float(np.log(P[np.arange(n), self.targets[v]]).sum())
            k = d * (K - 1)
        out = ll - 0.5 * math.log(n) * k - self.edge_cost * len(parents)
        self._cache[key] = out
        return out


def _kinds(X: pd.DataFrame, column_types: dict | None) -> dict:
    from ._schema import infer_column_spec
    column_types = dict(column_types or {})
    return {c: infer_column_spec(c, X[c], column_types.get(c)).kind for c in X.columns}


def _check_complete(X: pd.DataFrame, what: str) -> None:
    missing = X.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        raise ValueError(f"{what} needs complete rows: "
                         + ", ".join(f"column {c!r} has {int(k)} missing cells"
                                     for c, k in missing.items()))


def _search(scorer: _Scorer, allowed: np.ndarray, start: np.ndarray,
            required: np.ndarray) -> np.ndarray:
    """Hill climbing over DAGs from ``start`` (which holds ``required``): at every step the
    move that raises the score most among adding an allowed edge, removing an edge that
    is not required, and reversing one (when the reverse is allowed), skipping moves that
    would close a cycle, until no move raises it. The adjacency (p, p) of the learned DAG.

    A move changes one or two nodes' parents, and the score is a sum over nodes, so only
    the gains involving those nodes are recomputed (``refresh``)."""
    p = allowed.shape[0]
    adj = start.copy()
    D = nx.DiGraph()
    D.add_nodes_from(range(p))
    D.add_edges_from(zip(*np.nonzero(adj)))
    parents = [set(np.nonzero(adj[:, i])[0].tolist()) for i in range(p)]
    current = np.array([scorer.score(i, parents[i]) for i in range(p)])
    gains = {move: np.full((p, p), -np.inf) for move in ("add", "remove", "reverse")}
    add, remove, reverse = gains["add"], gains["remove"], gains["reverse"]

    def refresh(i):
        """The gains of the moves that change ``i``'s parents."""
        pa = parents[i]
        for j in range(p):
            add[j, i] = (scorer.score(i, pa | {j}) - current[i]
                         if allowed[j, i] and not adj[j, i] and not adj[i, j] else -np.inf)
            if adj[j, i] and not required[j, i]:        # the edge j -> i
                without = scorer.score(i, pa - {j}) - current[i]
                remove[j, i] = without
                reverse[j, i] = (without + scorer.score(j, parents[j] | {i}) - current[j]
                                 if allowed[i, j] else -np.inf)
            else:
                remove[j, i] = reverse[j, i] = -np.inf
            if adj[i, j] and not required[i, j] and allowed[j, i]:   # i -> j reversed
                reverse[i, j] = (scorer.score(j, parents[j] - {i}) - current[j]
                                 + scorer.score(i, pa | {j}) - current[i])

    def closes_cycle(move, j, i):
        if move == "add":
            return nx.has_path(D, i, j)
        if move == "reverse":                  # another path j ~> i than the edge
            D.remove_edge(j, i)
            cycle = nx.has_path(D, j, i)
            D.add_edge(j, i)
            return cycle
        return False

    for i in range(p):
        refresh(i)
    while True:
        candidates = []
        for move, M in gains.items():
            for flat in np.argsort(M, axis=None, kind="stable")[::-1]:
                j, i = divmod(int(flat), p)
                if not M[j, i] > 0:
                    break
                candidates.append((M[j, i], move, j, i))
        candidates.sort(key=lambda c: -c[0])
        picked = next(((move, j, i) for _, move, j, i in candidates
                       if not closes_cycle(move, j, i)), None)
        if picked is None:
            return adj
        move, j, i = picked
        adj[j, i] = False
        parents[i].discard(j)
        if D.has_edge(j, i):
            D.remove_edge(j, i)
        if move == "add":
            adj[j, i] = True
            parents[i].add(j)
            D.add_edge(j, i)
        elif move == "reverse":
            adj[i, j] = True
            parents[j].add(i)
            D.add_edge(i, j)
        current[i] = scorer.score(i, parents[i])
        current[j] = scorer.score(j, parents[j])
        refresh(i)
        refresh(j)


def _total(scorer: _Scorer, adj: np.ndarray) -> float:
    return sum(scorer.score(i, set(np.nonzero(adj[:, i])[0].tolist()))
               for i in range(adj.shape[0]))


def _climb(scorer: _Scorer, allowed: np.ndarray, start: np.ndarray,
           required: np.ndarray) -> np.ndarray:
    """:func:`_search`, then :data:`RESTARTS` perturbations of the best graph (a share
    :data:`PERTURB` of its edges that are not required, each removed or, half the time,
    reversed where that is allowed and closes no cycle), each climbed again and kept when
    it scores higher: where the directions tie (linear Gaussian mechanisms), an edge
    added early in one direction can make the climb add others that a graph of the same
    class does not need. The perturbations draw from a fixed seed (the result is
    deterministic)."""
    adj = _search(scorer, allowed, start, required)
    if scorer.family != "linear":
        return adj
    best = _total(scorer, adj)
    rng = np.random.RandomState(RESTART_SEED)
    for _ in range(RESTARTS):
        free = list(zip(*np.nonzero(adj & ~required)))
        if not free:
            break
        trial = adj.copy()
        for k in rng.choice(len(free), max(1, int(round(PERTURB * len(free)))),
                            replace=False):
            j, i = free[k]
            trial[j, i] = False
            if allowed[i, j] and rng.rand() < 0.5:
                trial[i, j] = True
                if not nx.is_directed_acyclic_graph(nx.DiGraph(list(zip(*np.nonzero(trial))))):
                    trial[i, j] = False
        trial = _search(scorer, allowed, trial, required)
        score = _total(scorer, trial)
        if score > best + 1e-9:
            adj, best = trial, score
    return adj


def learn_graph(X: pd.DataFrame, knowledge=None, *, graph: nx.DiGraph | None = None,
                column_types: dict | None = None, n_bootstrap: int = 0,
                min_r2: float = MIN_R2, random_state=None) -> nx.DiGraph:
    """Learn a DAG over ``X``'s columns under ``knowledge`` (see the module's docstring).

    Parameters
    ----------
    X : pandas.DataFrame
        Complete rows; binary and categorical columns are detected as the estimator
        detects them (``column_types`` declares them).
    knowledge : Knowledge, dict or None
    graph : networkx.DiGraph, optional
        A given graph over some or all of the columns: the search's start
        (``knowledge.given="start"``) or the only edges allowed (``"upper_bound"``).
    n_bootstrap : int, default=0
        Resamples of the rows to rerun the search on: each learned edge's ``confidence``
        is the share that found it (None without resamples).
    min_r2 : float in [0, 1), default=0.01
        The least share of its child's remaining variance an edge must explain (for a
        discrete child: the same log-likelihood per row, ``-log(1 - min_r2) / 2`` nats),
        on top of BIC. On large real samples BIC keeps every dependence, including the
        ones a misspecified mechanism or pooled populations create (Sachs: 37 edges for
        its 18 consensus edges, SHD 31, at ``min_r2=0``; 26 edges, SHD 22, at the
        default). 0 is BIC alone.
    random_state : int, RandomState instance or None
        Seeds the resamples and, above :data:`MAX_ROWS` rows, the subsample the search
        reads (``graph["rows_used"]`` says how many).

    Returns
    -------
    networkx.DiGraph
        Every column a node; every edge with ``score`` (the penalised log-likelihood lost
        without it, nats, ``min_r2``'s cost included: positive unless the edge is
        required), ``confidence`` and ``required``. ``graph["knowledge"]`` holds the
        knowledge used. Warns when no edge is learned, saying why.
    """
    from sklearn.utils import check_random_state
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}")
    if X.shape[1] < 2:
        raise ValueError(f"structure learning needs at least 2 columns, got {X.shape[1]}")
    if len(X) < 10:
        raise ValueError(f"structure learning needs at least 10 rows, got {len(X)}")
    n_bootstrap = int(n_bootstrap)
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if not (isinstance(min_r2, numbers.Real) and 0 <= min_r2 < 1):
        raise ValueError(f"min_r2 must be a number in [0, 1), got {min_r2!r}")
    _check_complete(X, "structure learning")
    kn = Knowledge.coerce(knowledge)
    nodes = list(X.columns)
    allowed, required = kn.masks(nodes)
    start = required.copy()
    if graph is not None:
        idx = {v: k for k, v in enumerate(nodes)}
        unknown = sorted(repr(v) for v in graph.nodes if v not in idx)
        if unknown:
            raise ValueError(f"graph has nodes that are not columns: {', '.join(unknown)}")
        given = np.zeros_like(allowed)
        for a, b in graph.edges:
            given[idx[a], idx[b]] = True
        if kn.given == "upper_bound":
            missing = [(nodes[j], nodes[i]) for j, i in zip(*np.nonzero(required & ~given))]
            if missing:
                raise ValueError("Knowledge: required edges outside the given graph (an upper "
                                 "bound): " + ", ".join(f"{a!r} -> {b!r}" for a, b in missing))
            allowed = allowed & given
        else:
            clash = [(nodes[j], nodes[i]) for j, i in zip(*np.nonzero(given & ~allowed))]
            if clash:
                raise ValueError("Knowledge: the given graph has edges the knowledge forbids: "
                                 + ", ".join(f"{a!r} -> {b!r}" for a, b in clash))
            start = start | given
            if not nx.is_directed_acyclic_graph(graph):
                raise ValueError("the given graph has a cycle: "
                                 f"{nx.find_cycle(graph)}")
    kinds = _kinds(X, column_types)
    rng = check_random_state(random_state)
    if len(X) > MAX_ROWS:
        X = X.iloc[np.sort(rng.choice(len(X), MAX_ROWS, replace=False))].reset_index(drop=True)
    # the search under each family of mechanisms; the graph whose total score is the
    # higher is kept (BIC between the two families, for the whole graph at once)
    learned, base = {}, _Scorer(X, kinds, min_r2)
    for family in FAMILIES:
        scorer = base.with_family(family)
        adj = _climb(scorer, allowed, start, required)
        learned[family] = (_total(scorer, adj), adj, scorer)
        if not any(k == "continuous" for k in kinds.values()):
            break                        # (no continuous column: the families are one)
    family = max(learned, key=lambda f: learned[f][0])
    _, adj, scorer = learned[family]
    confidence = None
    if n_bootstrap:
        counts = np.zeros_like(adj, dtype=float)
        for _ in range(n_bootstrap):
            rows = rng.randint(0, len(X), len(X))
            Xb = X.iloc[rows].reset_index(drop=True)
            counts += _climb(_Scorer(Xb, kinds, min_r2, family), allowed, start, required)
        confidence = counts / n_bootstrap
    out = nx.DiGraph()
    out.add_nodes_from(nodes)
    for j, i in zip(*np.nonzero(adj)):
        pa = set(np.nonzero(adj[:, i])[0])
        score = scorer.score(i, pa) - scorer.score(i, pa - {j})
        out.add_edge(nodes[j], nodes[i], score=float(score), required=bool(required[j, i]),
                     confidence=None if confidence is None else float(confidence[j, i]))
    out.graph["knowledge"] = kn
    out.graph["mechanisms"] = family
    out.graph["scores"] = {f: float(v[0]) for f, v in learned.items()}
    out.graph["rows_used"] = len(X)
    if confidence is not None:
        out.graph["edge_frequency"] = {(nodes[j], nodes[i]): float(confidence[j, i])
                                       for j, i in zip(*np.nonzero(confidence))}
    if out.number_of_edges() == 0:
        why = ("no edge is allowed by the knowledge" if not allowed.any() else
               f"no allowed edge raised the penalised likelihood on {len(X)} rows (the "
               "columns look independent, or the rows are too few to show a dependence)")
        warnings.warn(f"learn_graph learned an empty graph: {why}", UserWarning, stacklevel=2)
    return out


# ----------------------------------------------------------------------------- the check
@dataclass
class GraphCheck:
    """:func:`graph_check`'s verdicts: ``edges`` (one row per edge of the graph: the
    likelihood-ratio statistic of dropping it, its p-value and ``supported``) and
    ``missing`` (one row per absent edge the graph's Markov condition tests, from a
    non-descendant into a node: the statistic of adding it, its p-value and
    ``contradicted``), the p-values Bonferroni-adjusted over each table."""

    edges: pd.DataFrame
    missing: pd.DataFrame
    alpha: float = 0.05
    notes: list = field(default_factory=list)

    @property
    def unsupported_edges(self) -> list:
        rows = self.edges.loc[~self.edges["supported"], ["parent", "child"]]
        return [tuple(r) for r in rows.to_numpy()]

    @property
    def contradicted(self) -> list:
        """Absent edges the data contradict: the graph's implied independences that fail."""
        rows = self.missing.loc[self.missing["contradicted"], ["parent", "child"]]
        return [tuple(r) for r in rows.to_numpy()]

    def __repr__(self):
        return (f"GraphCheck({len(self.edges)} edges, {len(self.unsupported_edges)} not "
                f"supported by the data; {len(self.missing)} implied independences tested, "
                f"{len(self.contradicted)} contradicted; alpha={self.alpha})")


def graph_check(X: pd.DataFrame, graph: nx.DiGraph, *, column_types: dict | None = None,
                alpha: float = 0.05) -> GraphCheck:
    """Test ``graph`` against the data, with the learner's additive spline mechanisms.

    * Every edge ``j -> i``: does ``j`` add to the prediction of ``i`` given ``i``'s other
      parents? A likelihood-ratio test of the two nested fits (``2 (LL_with - LL_without)``
      against a chi-square with the extra features' degrees of freedom).
    * Every implied independence of the local Markov condition, ``i`` independent of each
      non-descendant ``j`` given ``i``'s parents: the same test of adding ``j``. A rejected
      one is an edge (either way, or a hidden common cause) the graph lacks.

    p-values are Bonferroni-adjusted within each of the two tables; an edge is
    ``supported`` and an independence ``contradicted`` at level ``alpha``. DoWhy's
    ``gcm.falsify_graph`` asks a related question (is the graph better than random
    permutations of its nodes); this one names the edges.
    """
    from scipy.stats import chi2
    from ._validation import check_graph
    graph = check_graph(graph)
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}")
    missing_cols = [v for v in graph.nodes if v not in X.columns]
    if missing_cols:
        raise ValueError(f"graph nodes missing from the data: {missing_cols}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    nodes = list(graph.nodes)
    Xg = X[nodes]
    _check_complete(Xg, "graph_check")
    kinds = _kinds(Xg, column_types)
    scorer = _Scorer(Xg, kinds)
    idx = {v: k for k, v in enumerate(nodes)}
    half_log_n = 0.5 * math.log(scorer.n)

    def test(i, pa, j):
        # scores are BIC-penalised: add the penalties back for the likelihood ratio
        df = scorer.width[j] * (1 if kinds[nodes[i]] == "continuous"
                                else max(scorer.levels[nodes[i]] - 1, 1))
        stat = 2.0 * (scorer.score(i, pa | {j}) - scorer.score(i, pa) + half_log_n * df)
        return max(stat, 0.0), df, float(chi2.sf(max(stat, 0.0), df)) if df else 1.0

    rows = []
    for a, b in graph.edges:
        i, j = idx[b], idx[a]
        pa = {idx[v] for v in graph.predecessors(b)} - {j}
        stat, df, pv = test(i, pa, j)
        rows.append({"parent": a, "child": b, "statistic": stat, "df": df, "p_value": pv})
    miss = []
    for b in nodes:
        i = idx[b]
        pa = {idx[v] for v in graph.predecessors(b)}
        desc = nx.descendants(graph, b)
        for a in nodes:
            if a == b or a in desc or idx[a] in pa:
                continue
            stat, df, pv = test(i, pa, idx[a])
            miss.append({"parent": a, "child": b, "statistic": stat, "df": df,
                         "p_value": pv})
    cols = ["parent", "child", "statistic", "df", "p_value"]
    edges = pd.DataFrame(rows, columns=cols)
    missing = pd.DataFrame(miss, columns=cols)
    for table, flag in ((edges, "supported"), (missing, "contradicted")):
        adj = np.minimum(table["p_value"].to_numpy() * max(len(table), 1), 1.0)
        table["p_adjusted"] = adj
        table[flag] = adj < alpha
    return GraphCheck(edges, missing, alpha)
