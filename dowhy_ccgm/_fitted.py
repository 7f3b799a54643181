"""The fitted model as an immutable value: what ``CCGMGenerator.fit`` produces.

:class:`FittedCCGM` holds the trained net, the column schema, the node order, the exogenous
nodes and the removed edges (:class:`RemovedEdge`, small frozen records). Everything that
turns data into states and back, compiles interventions, generates in chunks and removes
edges lives here, behind public methods; the estimator, the ``dowhy.gcm`` export and the
experiments use it through them. A removed edge gives a NEW value that shares the net
(weights are never copied and never changed after the fit).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from numbers import Number
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import torch

from ._codec import MAX_STANDARDIZED, codes_of_labels, label_array, standardized
from ._removal import POOL_SIZE, check_mean_allowed, parse_how
from ._schema import Schema
from ._utils import torch_threads
from ._validation import check_frame, check_node
from .nn import CCGMNet

__all__ = ["FittedCCGM", "RemovedEdge", "CHUNK_ROWS", "MAX_STANDARDIZED", "MAX_SAMPLES",
           "pooled_root_indices",
           "ROOT_POOL_ROWS", "root_pool", "root_copula"]

#: rows generated per chunk (bounded memory; noise is drawn per chunk)
CHUNK_ROWS = 65_536
#: |standardized value| beyond which an intervention or a removed edge's value is refused
#: (float32 arithmetic through the masks would overflow to inf / NaN)
#: the most rows one call may generate (a frame of that size is already ~8 GB per
#: column of float64; larger requests are refused before anything is allocated)
MAX_SAMPLES = 1_000_000_000


#: the most training rows whose root noise is kept for ``root_sampling="empirical"``
ROOT_POOL_ROWS = 200_000
#: the kinds of root noise a pool keeps: exogenous latents, noise latents, uniforms
_POOL_KEYS = ("z", "eps", "unif")


def pooled_root_indices(net: CCGMNet) -> list:
    """The nodes :func:`root_pool` keeps the noise of: no parents in the mask, and a noise
    of their own."""
    mask = net.mask.detach().cpu().numpy()
    return [i for i in range(net.n)
            if not mask[:, i].any() and net.noise_slot(i) is not None]


def _pool_rows(pool: dict) -> int:
    """The number of stored rows of a root pool."""
    return max(pool[key].shape[0] for key in _POOL_KEYS)


@torch.no_grad()
def root_pool(net: CCGMNet, S: torch.Tensor, generator: torch.Generator,
              groups: bool = False) -> dict:
    """The abducted noise of the graph's root nodes (no parents in the mask) for up to
    :data:`ROOT_POOL_ROWS` rows of ``S`` (state rows of the training data; a random subset
    beyond that), for :meth:`FittedCCGM.draw_noise`: the exogenous roots' latents by one
    decoder inversion, the other roots one by one (``CCGMNet.abduct_node``), in row chunks,
    so memory stays a few MB whatever the data. Every entry has ``P`` rows (``(P, 0)`` when
    no root has that kind of noise).

    ``groups=True`` adds ``"groups"``: ``{key: (P, k) long}``, for every column the group
    within which its noise is a random draw (a discrete root's category; 0 at a
    zero-inflated root's point mass) and -1 where the noise is exact (for
    :func:`root_copula`)."""
    roots = [(i, net.noise_slot(i)) for i in pooled_root_indices(net)]   # (i, (key, col))
    cols = [net.offsets[i] for i, _ in roots]
    used = torch.arange(S.shape[0])
    if cols:                       # rows with a missing root are not pooled
        complete = ~torch.isnan(S[:, cols]).any(1)
        if not bool(complete.all()):
            S = S[complete]
            used = used[complete.cpu()]
    if bool(torch.isnan(S).any()):
        # other columns' missing cells: the roots read none of them (their gates are 0,
        # but 0 * NaN is NaN), and the decoders invert every column of a row together
        S = torch.nan_to_num(S, nan=0.0)
    n = S.shape[0]
    keep = None
    if n > ROOT_POOL_ROWS:
        keep = torch.randperm(n, generator=generator, dtype=torch.int32)[
            :ROOT_POOL_ROWS].to(S.device)
        used = used[keep.long().cpu()]
    m = n if keep is None else len(keep)
    out = {f"{key}_idx": [col for _, (k2, col) in roots if k2 == key]
           for key in _POOL_KEYS}
    out["rows"] = used          # (the rows of S pooled: fit_model keeps their raw values)
    parts = {key: [] for key in _POOL_KEYS}
    group_parts = {key: [] for key in _POOL_KEYS}
    latent = [i for i, (key, _) in roots if key == "z"]

    def group_of(i, Sb):
        state = Sb[:, net.block(i)]
        if net.noise_kind(i) == "uniform":
            return net.node_codes(i, state).long()
        if net.atoms[i]:
            return net.atom_index(i, state[:, 0])
        return torch.full((Sb.shape[0],), -1, dtype=torch.long, device=Sb.device)

    for k in range(0, m, 16_384):
        rows = slice(k, min(k + 16_384, m))
        Sb = S[rows] if keep is None else S[keep[rows]]
        if groups:
            for key in _POOL_KEYS:
                cols = [group_of(i, Sb) for i, (k2, _) in roots if k2 == key]
                if cols:
                    group_parts[key].append(torch.stack(cols, -1).cpu())
        if latent:      # an exogenous root's noise is its latent: one inversion for all
            z = net.latent_of_value(Sb[:, net.cont_offset])[:, out["z_idx"]]
            for c, i in enumerate(latent):
                if net.atoms[i]:    # a zero-inflated root's noise (a draw at its atom)
                    z[:, c] = net.abduct_node(i, Sb, Sb[:, net.block(i)],
                                              generator=generator)
            parts["z"].append(z.cpu())
        for key in ("eps", "unif"):
            cols = [net.abduct_node(i, Sb, Sb[:, net.block(i)], generator=generator)
                    for i, (k2, _) in roots if k2 == key]
            if cols:
                parts[key].append(torch.stack(cols, -1).cpu())
    for key, v in parts.items():
        out[key] = torch.cat(v) if v else torch.zeros(m, 0)
    if groups:
        out["groups"] = {key: torch.cat(v) if v else torch.zeros(m, 0, dtype=torch.long)
                         for key, v in group_parts.items()}
        # a discrete root's class probabilities (constant: it has no parents)
        S1 = S[:1]
        out["unif_probs"] = [
            torch.softmax(net.disc_logits(i, net.g.forward_node(i, S1, net.G)), -1)[0]
            .double().cpu() for i, (k2, _) in roots if k2 == "unif"]
    return out


#: rows of the roots' copula drawn for ``to_gcm``'s joint root block
COPULA_EXPORT_ROWS = 100_000


@torch.no_grad()
def root_copula(pool: dict) -> dict:
    """The roots' Gaussian copula, from their abducted noise (a :func:`root_pool` with
    ``groups=True``): the correlation of the columns' normal scores (van der Waerden:
    ``Phi^-1(rank / (P + 1))``, so a marginal misfit of the trained maps does not bend it),
    as the Cholesky factor ``"copula"`` (k, k) over the columns of ``z``, ``eps`` and
    ``unif`` in that order. The training rows are *not* kept: ``z``, ``eps`` and ``unif``
    have no rows.

    A discrete root's noise (and a zero-inflated root's at its point mass) is a random draw
    within its category, which attenuates its correlations by the column's reliability
    ``r = 1 - sum_g p_g Var(score | g)`` (the share of the score's variance its group
    explains): for a thresholded Gaussian, ``corr(score_i, score_j) = r_i r_j rho_ij`` to
    first order, so the latent correlation is the scores' divided by ``r_i r_j``. Sampling
    then thresholds the copula's normal draws at the trained category probabilities, which
    reproduces the dependence of such data. A categorical root with more than two levels
    is read in the category order that best lines it up with the other roots (its codes'
    order is arbitrary): ``"unif_perm"`` and ``"unif_probs"`` record that order and the
    trained class probabilities."""
    cols = [pool[key].double() for key in _POOL_KEYS if pool[key].shape[1]]
    out = {key: torch.zeros(0, pool[key].shape[1]) for key in _POOL_KEYS}
    out.update({f"{key}_idx": list(pool[f"{key}_idx"]) for key in _POOL_KEYS})
    k = sum(c.shape[1] for c in cols)
    if k == 0:
        out["copula"] = torch.zeros(0, 0)
        return out
    X = torch.cat(cols, 1)
    P = X.shape[0]
    probs = pool.get("unif_probs")
    if probs:
        # a categorical root with more than two levels: its noise lives in the model's
        # CDF, whose category order (the codes) says nothing about the dependence; the
        # copula reads it in the order that best lines the categories up with the other
        # roots (out["unif_perm"]), and sampling maps back (:meth:`FittedCCGM.draw_noise`)
        first = X.shape[1] - len(probs)
        perms, padded = _category_orders(X, first, pool["groups"]["unif"], probs)
        for c, perm in enumerate(perms):
            if perm != list(range(len(perm))):
                X[:, first + c] = _reorder_uniform(X[:, first + c], probs[c], perm)
        out["unif_perm"], out["unif_probs"] = _padded(perms, -1, torch.long), padded
    scores = _normal_scores(X)
    scores = scores / scores.std(0, unbiased=False).clamp(min=1e-12)
    R = torch.corrcoef(scores.T) if k > 1 else torch.ones(1, 1, dtype=torch.float64)
    R = torch.nan_to_num(R, nan=0.0)
    groups = pool.get("groups")
    if groups is not None:
        G = torch.cat([groups[key] for key in _POOL_KEYS if pool[key].shape[1]], 1)
        r = torch.ones(k, dtype=torch.float64)
        for j in range(k):
            within = 0.0
            for g in torch.unique(G[:, j]).tolist():
                if g >= 0:
                    sel = scores[G[:, j] == g, j]
                    within += sel.numel() / P * float(sel.var(unbiased=False))
            r[j] = max(1.0 - within, 0.05)
        R = (R / r[:, None] / r[None, :]).clamp(-0.999, 0.999)
    R.fill_diagonal_(1.0)
    # the nearest positive definite matrix (a constant or duplicated column is singular)
    w, V = torch.linalg.eigh(R)
    R = (V * w.clamp(min=1e-6)) @ V.T
    d = R.diagonal().sqrt()
    R = R / d[:, None] / d[None, :]
    out["copula"] = torch.linalg.cholesky(R).float()
    return out


def _normal_scores(X: torch.Tensor) -> torch.Tensor:
    """Every column's van der Waerden scores ``Phi^-1(rank / (P + 1))``."""
    ranks = X.argsort(0).argsort(0).double() + 1.0
    return torch.special.ndtri(ranks / (X.shape[0] + 1.0))


def _padded(rows: list, fill, dtype) -> torch.Tensor:
    """Rows of different lengths as one (len(rows), longest) tensor, padded with ``fill``."""
    out = torch.full((len(rows), max((len(r) for r in rows), default=0)), fill, dtype=dtype)
    for c, r in enumerate(rows):
        out[c, :len(r)] = torch.as_tensor(r, dtype=dtype)
    return out


def _category_orders(X: torch.Tensor, first: int, codes: torch.Tensor, probs: list):
    """For every discrete root column ``first + c`` of ``X``: the order of its categories
    along the first discriminant direction of the other columns' normal scores (the
    between-category covariance's leading eigenvector; the codes' order for two levels or
    no other column). Returns the orders and the class probabilities padded to one
    (k_u, K_max) tensor."""
    k = X.shape[1]
    others = _normal_scores(X)
    perms = []
    for c, p in enumerate(probs):
        K = len(p)
        j = first + c
        rest = [t for t in range(k) if t != j]
        perm = list(range(K))
        if K > 2 and rest:
            Z = others[:, rest]
            Z = Z - Z.mean(0)
            code = codes[:, c]
            means = torch.zeros(K, len(rest), dtype=torch.float64)
            weight = torch.zeros(K, dtype=torch.float64)
            for g in range(K):
                sel = code == g
                if bool(sel.any()):
                    means[g] = Z[sel].mean(0)
                    weight[g] = float(sel.double().mean())
            B = (means * weight[:, None]).T @ means       # between-category covariance
            _, V = torch.linalg.eigh(B)
            position = means @ V[:, -1]
            perm = [int(g) for g in torch.argsort(position)]
        perms.append(perm)
    return perms, _padded(probs, 0.0, torch.float64)


def _reorder_uniform(u: torch.Tensor, probs: torch.Tensor, perm, inverse: bool = False):
    """A uniform noise in the model's CDF order (the codes) -> its position in the CDF
    taken in the category order ``perm`` (``inverse``: back), keeping its relative place
    within its category's interval."""
    p = probs.to(u.dtype)
    K = len(perm)
    p = p[:K]
    perm_t = torch.as_tensor(perm, dtype=torch.long)
    lo_model = torch.cumsum(p, 0) - p                    # the codes' intervals
    p_perm = p[perm_t]
    lo_perm = torch.empty_like(p)
    lo_perm[perm_t] = torch.cumsum(p_perm, 0) - p_perm   # each code's start in perm order
    src, dst = (lo_perm, lo_model) if inverse else (lo_model, lo_perm)
    edges = torch.sort(src).values
    # the category of each u: the last interval start (in the source order) below it
    order = torch.argsort(src)
    pos = torch.searchsorted(edges, u.contiguous(), right=True).clamp(1, K) - 1
    cat = order[pos]
    rel = ((u - src[cat]) / p[cat].clamp(min=1e-12)).clamp(0.0, 1.0 - 1e-7)
    return dst[cat] + rel * p[cat]


@dataclass(frozen=True)
class RemovedEdge:
    """``parent -> child`` cut: the child sees ``state`` in place of the parent.

    ``mode`` is ``"const"`` (``state`` (w,)) or ``"pool"`` (``state`` (P, w), one row drawn
    per generated row); ``reference`` (w,) is what the child sees at unit level (see
    :mod:`dowhy_ccgm._removal`). ``how`` is what the user asked for (kept for saving)."""
    parent: Any
    child: Any
    how: Any
    mode: str
    state: torch.Tensor
    reference: torch.Tensor


def _chunk(specs: dict, rows: slice) -> dict:
    """Compiled interventions for the chunk ``rows``: per-unit values sliced to it."""
    return {i: (sp.rows(rows) if isinstance(sp, _RowSlice) else sp) for i, sp in specs.items()}


class _RowSlice:
    """Per-unit intervention states, sliced along with the noise chunks."""

    def __init__(self, state):
        self.state = state

    def rows(self, rows: slice):
        return self.state[rows]


@dataclass(frozen=True)
class FittedCCGM:
    """A trained CCGM: ``net`` (eval mode, never trained again), ``schema``, ``nodes`` (the
    model's node order), ``exogenous`` and the ``removed`` edges."""
    net: CCGMNet
    schema: Schema
    nodes: tuple
    exogenous: tuple
    removed: tuple = ()
    n_threads: int | None = None
    #: ``root_sampling="empirical"``: the abducted noise of the root nodes for up to
    #: :data:`ROOT_POOL_ROWS` training rows (:func:`root_pool`: ``{"z": (P, k_z), "z_idx",
    #: "eps": (P, k_e), "eps_idx", "unif": (P, k_u), "unif_idx"}``); None: every root is
    #: drawn from its own trained marginal. ``root_sampling="copula"``: the same keys with
    #: no rows and ``"copula"``, the Cholesky factor of the roots' Gaussian copula
    #: (:func:`root_copula`)
    root_pool: dict | None = None

    # ------------------------------------------------------------------ lookups
    def index(self, node) -> int:
        check_node(node, self.nodes)
        return self.nodes.index(node)

    @property
    def device(self):
        return self.net.mask.device

    def removed_pairs(self) -> list:
        return [(r.parent, r.child) for r in self.removed]

    def edges(self) -> list:
        """The model's edges (the mask's, less the removed ones), in node order."""
        mask = self.net.mask.detach().cpu().numpy()
        cut = set(self.removed_pairs())
        return [(p, c) for j, p in enumerate(self.nodes) for i, c in enumerate(self.nodes)
                if mask[j, i] and (p, c) not in cut]

    def adjacency(self) -> pd.DataFrame:
        """``A = G + B`` with removed edges at 0."""
        A = self.net.A.detach().cpu().numpy().copy()
        for p, c in self.removed_pairs():
            A[self.nodes.index(p), self.nodes.index(c)] = 0.0
        return pd.DataFrame(A, index=list(self.nodes), columns=list(self.nodes))

    def graph(self) -> nx.DiGraph:
        """The model's graph with ``weight`` (the entry of ``A``) on every edge."""
        A = self.adjacency().to_numpy()
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for p, c in self.edges():    # (positions: .loc would read a tuple name as a path)
            g.add_edge(p, c, weight=float(A[self.nodes.index(p), self.nodes.index(c)]))
        return g

    def overrides(self, unit_level: bool = False) -> dict:
        """``{(parent index, child index): (mode, state)}`` for the net; at unit level
        every removed edge feeds its reference state."""
        out = {}
        for r in self.removed:
            key = (self.nodes.index(r.parent), self.nodes.index(r.child))
            out[key] = ("const", r.reference) if unit_level else (r.mode, r.state)
        return out

    # ------------------------------------------------------------------ the value codec
    @torch.no_grad()
    def values_of_state(self, i: int, state: torch.Tensor) -> np.ndarray:
        """Node ``i``'s state rows -> its values (what the output frame shows)."""
        spec = self.schema.specs[i]
        if spec.kind == "continuous":
            return spec.values(state[:, 0].cpu().numpy())
        return label_array(spec)[self.codes_of_state(i, state)]

    def codes_of_state(self, i: int, state: torch.Tensor) -> np.ndarray:
        return self.net.node_codes(i, state).cpu().numpy()

    @torch.no_grad()
    def state_of_values(self, i: int, values, n_rows: int | None = None,
                        integer_only: bool = True, what: str = "intervention") -> torch.Tensor:
        """Values of node ``i`` -> its state rows, validated in the dtype the model computes
        in. ``integer_only``: an integer column's value must be an integer (an
        intervention's value is what the output shows and the children see); a removed
        edge's constant is never shown, so it may be any number."""
        spec = self.schema.specs[i]
        if spec.kind == "continuous":
            try:
                arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
            except (TypeError, ValueError):
                raise ValueError(f"{what} on {spec.name!r}: the column is continuous but got "
                                 f"non-numeric values {values!r}") from None
        else:
            arr = np.atleast_1d(np.asarray(values, dtype=object))
        if arr.ndim != 1:
            raise ValueError(f"{what} on {spec.name!r}: expected a scalar or one value per "
                             f"unit, got an array of shape {arr.shape}")
        if n_rows is not None and arr.shape[0] not in (1, n_rows):
            raise ValueError(f"{what} on {spec.name!r}: got {arr.shape[0]} values for "
                             f"{n_rows} units")
        if spec.kind == "continuous":
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{what} value for {spec.name!r} must be finite")
            if integer_only and spec.integer:
                kind = np.dtype(spec.dtype) if spec.dtype in np.sctypeDict else None
                if kind is not None and kind.kind in "iu":
                    lim = np.iinfo(kind)
                    if np.any((arr < lim.min) | (arr > lim.max)):
                        bad = arr[np.argmax((arr < lim.min) | (arr > lim.max))]
                        raise ValueError(
                            f"{what} value {float(bad):g} for {spec.name!r} does not fit the "
                            f"column's dtype {spec.dtype} ({lim.min}..{lim.max}); cast the "
                            "column to a wider integer type before fitting")
            if integer_only and spec.integer and np.any(arr != np.rint(arr)):
                bad = arr[np.argmax(arr != np.rint(arr))]
                raise ValueError(
                    f"column {spec.name!r} holds integers and its children were trained on "
                    f"its integer values; got the non-integer value {bad!r}: pass an integer "
                    f"(or declare the column float)")
            st = standardized(spec, arr, what)
            return torch.as_tensor(st, dtype=torch.float32, device=self.device).unsqueeze(-1)
        codes = torch.as_tensor(codes_of_labels(spec, arr), device=self.device)
        return self.net.disc_state(i, codes)

    @torch.no_grad()
    def frame(self, S: torch.Tensor, index=None) -> pd.DataFrame:
        """State rows -> a frame with the training columns and dtypes."""
        net = self.net
        u = S[:, [net.offsets[i] for i in net.cont]].cpu().numpy()
        codes = net.states_to_codes(S).cpu().numpy()
        return self.schema.to_frame(u, codes, index=index)

    def observed(self, X, extra_columns: str = "raise", missing: str = "raise"):
        """Observed rows -> ``(u, codes, X restricted to the nodes)`` on the model's device
        (``missing="allow"``: missing cells as NaN values and codes of -1)."""
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        Xg = check_frame(X, graph, extra_columns=extra_columns, min_rows=1,
                         missing=missing)
        u, codes = self.schema.to_arrays(Xg)
        return (torch.as_tensor(u, device=self.device),
                torch.as_tensor(codes, device=self.device), Xg)

    # ------------------------------------------------------------------ interventions
    def compile_interventions(self, interventions, n_rows: int):
        """Interventions -> ``({node index: state or callable}, {column: exact values})``.

        The exact values are written into the output so that ``do(x=3)`` gives
        exactly 3 (states are float32 inside the model). A callable follows dowhy.gcm's
        convention (natural values -> new values, elementwise); its values are collected
        chunk by chunk, so the result does not depend on the chunking."""
        if not isinstance(interventions, dict) or not interventions:
            raise ValueError("interventions must be a non-empty dict {node: value or callable}")
        specs, exact = {}, {}
        for node, v in interventions.items():
            i = self.index(node)
            if callable(v):
                exact[node] = []

                def fn(natural, i=i, v=v, node=node):
                    new = np.asarray(v(self.values_of_state(i, natural)))
                    try:
                        new = np.broadcast_to(new, (natural.shape[0],))
                    except ValueError:
                        raise ValueError(
                            f"the intervention callable for {node!r} returned shape "
                            f"{new.shape} for {natural.shape[0]} values; it must return one "
                            f"value per input value (or a scalar)") from None
                    state = self.state_of_values(i, new, natural.shape[0])
                    exact[node].append(new)
                    return state
                specs[i] = fn
            else:
                state = self.state_of_values(i, v, n_rows)
                specs[i] = _RowSlice(state) if state.shape[0] > 1 else state
                exact[node] = np.broadcast_to(np.asarray(v), (n_rows,))
        return specs, exact

    # ------------------------------------------------------------------ generation
    def generate(self, n_rows: int, noise_of, interventions=None, generator=None,
                 index=None, unit_level: bool = False, reference=None) -> pd.DataFrame:
        """Generate ``n_rows`` rows in chunks of :data:`CHUNK_ROWS`: ``noise_of(rows)`` gives
        the noise of a chunk (drawn per chunk: memory stays bounded whatever ``n_rows``).

        ``reference``: ``(compiled interventions, [(parent, child) index pairs])``, a
        nested counterfactual: each listed edge's child reads its parent's value in the
        reference world (the same noise under those interventions) instead of its own."""
        specs, exact = interventions if interventions else (None, {})
        overrides = self.overrides(unit_level)
        ref_specs, ref_edges = reference if reference else (None, ())
        parts, raw = [], []
        with torch.no_grad(), torch_threads(self.n_threads):
            for start in range(0, max(n_rows, 1), CHUNK_ROWS):
                rows = slice(start, min(start + CHUNK_ROWS, n_rows))
                cspecs = None if specs is None else _chunk(specs, rows)
                noise = noise_of(rows)
                if "root_values" in noise:
                    raw.append(noise["root_values"])
                ov = overrides
                if ref_edges:
                    S_ref = self.net.generate(noise, _chunk(ref_specs, rows), overrides,
                                              generator=generator)
                    ov = {**overrides, **{(p, c): ("rows", S_ref[:, self.net.block(p)])
                                          for p, c in ref_edges}}
                parts.append(self.net.generate(noise, cspecs, ov, generator=generator))
        S = torch.cat(parts) if len(parts) > 1 else parts[0]
        out = self.frame(S, index)
        if raw and len(raw) == len(parts):
            # a root drawn from a stored training row is that row's value, bit for bit
            # (the state rows hold it in float32)
            values = torch.cat(raw).numpy()
            for k, i in enumerate(self.root_pool["values_idx"]):
                col = self.nodes[i]
                out[col] = values[:n_rows, k].astype(out[col].dtype)
        for col, values in exact.items():
            if isinstance(values, list):
                values = np.concatenate(values) if values else values
            if self.schema.by_name[col].kind == "continuous":
                out[col] = np.asarray(values, dtype=np.float64).astype(out[col].dtype)
        return out

    def draw_noise(self, n: int, generator, rows: torch.Tensor | None = None) -> dict:
        """The exogenous noise of ``n`` new units: the net's prior draws, with the roots'
        noise taken jointly from one stored training row per unit under
        ``root_sampling="empirical"`` (the roots then have exactly the data's joint law):
        random rows, or the pool's ``rows`` (n,) when given."""
        noise = self.net.sample_noise(n, generator)
        pool = self.root_pool
        if pool is not None and n and "copula" in pool:
            L = pool["copula"]
            if L.shape[0]:            # the roots' noise from their Gaussian copula
                g = (torch.randn(n, L.shape[0], generator=generator) @ L.T).to(self.device)
                k = 0
                for key in _POOL_KEYS:
                    idx = pool[f"{key}_idx"]
                    if idx:
                        part = g[:, k:k + len(idx)]
                        if key == "unif":
                            part = torch.special.ndtr(part)
                            perms = pool.get("unif_perm")
                            for c in range(part.shape[1] if perms is not None else 0):
                                perm = [int(v) for v in perms[c] if v >= 0]
                                if perm != list(range(len(perm))):
                                    part[:, c] = _reorder_uniform(
                                        part[:, c], pool["unif_probs"][c], perm,
                                        inverse=True).to(part.dtype)
                        noise[key][:, idx] = part
                        k += len(idx)
            return noise
        if pool is not None and n:
            if rows is None:
                rows = torch.randint(_pool_rows(pool), (n,), generator=generator)
            rows = rows.to(self.device)
            for key in _POOL_KEYS:
                if pool[f"{key}_idx"]:
                    noise[key][:, pool[f"{key}_idx"]] = pool[key].to(self.device)[rows]
            if pool.get("values_idx"):   # the pooled rows' own values, for the output
                noise["root_values"] = pool["values"][rows.cpu()]
        return noise

    def pooled_roots(self) -> list:
        """The nodes whose noise :func:`root_pool` stores (the trained graph's roots with a
        noise of their own), in model order; empty without a pool."""
        if self.root_pool is None:
            return []
        return [self.nodes[i] for i in pooled_root_indices(self.net)]

    def pooled_root_rows(self, generator) -> pd.DataFrame:
        """The pooled roots' values, one row per stored training row (the training rows'
        roots themselves: abduction then generation is the identity on them); under
        ``root_sampling="copula"``, :data:`COPULA_EXPORT_ROWS` rows drawn from the copula."""
        pool = self.root_pool
        if "copula" in pool:
            return self.generate(COPULA_EXPORT_ROWS, lambda rows: self.draw_noise(
                rows.stop - rows.start, generator), None, generator)[self.pooled_roots()]
        P = _pool_rows(pool)
        out = self.generate(P, lambda rows: self.draw_noise(
            rows.stop - rows.start, generator, torch.arange(rows.start, rows.stop)),
            None, generator)
        return out[self.pooled_roots()]

    def compile_reference(self, reference, edges, n_rows: int):
        """``(reference interventions, edges)`` -> the ``reference`` argument of
        :meth:`generate` (None when no edge reads the reference world)."""
        if not edges:
            return None
        pairs = [(self.index(p), self.index(c)) for p, c in edges]
        return self.compile_interventions(reference, n_rows)[0], pairs

    def sample(self, n_samples: int, generator, interventions=None, reference=None,
               reference_edges=()) -> pd.DataFrame:
        """``n_samples`` new units (under ``interventions``, a dict as in ``intervene``;
        the ``reference_edges`` read their parent under ``reference`` instead)."""
        specs = self.compile_interventions(interventions, n_samples) if interventions \
            else None
        return self.generate(n_samples, lambda rows: self.draw_noise(
            rows.stop - rows.start, generator), specs, generator,
            reference=self.compile_reference(reference, reference_edges, n_samples))

    def counterfactual(self, X, interventions, generator, abduction: str = "exact",
                       extra_columns: str = "raise", reference=None,
                       reference_edges=()) -> pd.DataFrame:
        """Unit-level counterfactuals of the rows of ``X`` (removed edges at their
        reference values, in abduction and prediction: see :mod:`dowhy_ccgm._removal`;
        the ``reference_edges`` read their parent under ``reference`` instead)."""
        u, codes, Xg = self.observed(X, extra_columns, missing="allow")
        specs = self.compile_interventions(interventions, len(Xg)) if interventions else None
        ref = self.compile_reference(reference, reference_edges, len(Xg))
        miss = self._missing_cells(Xg)
        if miss is not None:
            u, codes = torch.nan_to_num(u, nan=0.0), codes.clamp(min=0)
        with torch_threads(self.n_threads):
            noise = self.net.abduct(u, codes, method=abduction, generator=generator,
                                    overrides=self.overrides(unit_level=True))
            if miss is not None:     # a missing node's noise: a draw from its prior
                prior = self.net.sample_noise(len(Xg), generator)
                for i, rows in miss.items():
                    slot = self.net.noise_slot(i)
                    if slot is not None:      # (no noise: its value is its parents')
                        key, col = slot
                        noise[key][rows, col] = prior[key][rows, col]
        out = self.generate(len(Xg), lambda rows: {k: v[rows] for k, v in noise.items()},
                            specs, generator, index=Xg.index, unit_level=True, reference=ref)
        # a continuous column that no intervention reaches is the unit's own value, exactly
        # (the model's float32 round trip would change its last digits), where observed
        graph = self.graph()
        reached = set()
        sources = list(interventions or {}) + (list(reference) if reference_edges else [])
        for node in sources:
            reached |= {node} | nx.descendants(graph, node)
        for col in self.schema.cont:
            if col not in reached:
                own = Xg[col].to_numpy(dtype=np.float64, na_value=np.nan)
                known = ~np.isnan(own)
                out.loc[known, col] = own[known].astype(out[col].dtype)
        return out

    def _missing_cells(self, Xg) -> dict | None:
        """``{node index: rows (bool tensor)}`` of the missing cells of observed rows, None
        when there are none. A missing node's noise is then drawn from its prior, which is
        its posterior only when none of its descendants is observed in that row: a row
        with an observed descendant is refused, naming the columns."""
        na = Xg[list(self.nodes)].isna().to_numpy()
        if not na.any():
            return None
        graph = self.graph()
        out = {}
        for k, node in enumerate(self.nodes):
            rows = na[:, k]
            if not rows.any():
                continue
            desc = [self.nodes.index(d) for d in nx.descendants(graph, node)]
            seen = rows & ~na[:, desc].all(1) if desc else np.zeros_like(rows)
            if seen.any():
                r = int(np.argmax(seen))
                shown = [self.nodes[d] for d in desc if not na[r, d]]
                raise ValueError(
                    f"row {Xg.index[r]!r} has a missing value of {node!r} and observed values "
                    f"of its descendants {shown}: the model draws a missing value from its "
                    "parents and cannot condition it on its descendants; impute it, or "
                    "mark those descendants missing too")
            out[k] = torch.as_tensor(rows, device=self.device)
        return out


    def latents(self, X, abduction: str, extra_columns: str = "raise") -> pd.DataFrame:
        """``z_<node>`` / ``eps_<node>`` of observed rows (``transform``)."""
        u, codes, Xg = self.observed(X, extra_columns)
        with torch.no_grad(), torch_threads(self.n_threads):
            if abduction == "exact":
                ab = self.net.abduct(u, codes, generator=torch.Generator().manual_seed(0),
                                     overrides=self.overrides(unit_level=True))
                mu = torch.cat([ab["z"], ab["eps"]], -1).cpu().numpy()
            else:
                mu = self.net.encode(u, codes).cpu().numpy()
        return pd.DataFrame(mu, columns=self.latent_names(), index=Xg.index)

    def latent_names(self) -> list:
        return [f"z_{self.nodes[i]}" for i in self.net.cont] + \
            [f"eps_{self.nodes[i]}" for i in self.net.noisy]

    # ------------------------------------------------------------------ edge removal
    def without_edge(self, parent, child, how, generator) -> "FittedCCGM":
        """A new value whose ``child`` no longer depends on ``parent`` (the net is shared).
        ``generator`` draws the marginal pool (a model sample of :data:`POOL_SIZE` rows)."""
        j = self.index(parent)
        self.index(child)
        if (parent, child) in self.removed_pairs():
            raise ValueError(f"the model has no edge {parent!r} -> {child!r}: it was removed "
                             "already")
        if (parent, child) not in self.edges():
            into = sorted((p for p, c in self.edges() if c == child), key=str)
            raise ValueError(f"the model has no edge {parent!r} -> {child!r}; its edges into "
                             f"{child!r} are {into}")
        spec = self.schema.specs[j]
        mode_of_how = parse_how(how)
        if mode_of_how == "value" and isinstance(how, str) and spec.kind == "continuous":
            raise ValueError(f"how must be 'marginal', 'mean' or a value, got {how!r}")
        if mode_of_how == "mean":
            check_mean_allowed(parent, spec.kind, spec.categories or None)
        if mode_of_how in ("marginal", "mean"):
            with torch.no_grad():
                S = self.net.generate(self.draw_noise(POOL_SIZE, generator), None,
                                      self.overrides(), generator=generator)
            pool = S[:, self.net.block(j)].clone()
            reference = self._reference_state(j, pool)
            if mode_of_how == "marginal":
                mode, state = "pool", pool
            else:
                mode, state = "const", reference
        else:
            mode = "const"
            state = self.state_of_values(j, [how], integer_only=False,
                                         what=f"how for the removed edge {parent!r} -> "
                                              f"{child!r}")[0]
            reference = state
        rec = RemovedEdge(parent, child, how if isinstance(how, (str, Number)) else str(how),
                          mode, state.detach(), reference.detach())
        return dataclasses.replace(self, removed=self.removed + (rec,))

    def _reference_state(self, j: int, pool: torch.Tensor) -> torch.Tensor:
        """The unit-level value of a removed parent: its mean (continuous) or its most
        frequent category (discrete), from the pool."""
        if self.schema.specs[j].kind == "continuous":
            mean_value = float(np.mean(self.values_of_state(j, pool)))
            return self.state_of_values(j, [mean_value], integer_only=False)[0]
        codes = self.codes_of_state(j, pool)
        top = int(np.bincount(codes).argmax())
        return self.net.disc_state(j, torch.tensor([top], device=self.device))[0]
