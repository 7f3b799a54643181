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

from ._build import NetConfig, build_net
from ._codec import MAX_STANDARDIZED, codes_of_labels, label_array, standardized
from ._removal import POOL_SIZE, Insertion, check_mean_allowed, parse_how
from ._root_sampling import (COPULA_EXPORT_ROWS, CopulaRoots, IndependentRoots,
                             RootSampling, RootStateError, pooled_root_indices,
                             roots_from_state_dict)
from ._schema import Schema
from ._utils import torch_threads
from ._validation import check_frame, check_node
from .nn import CCGMNet
from .nn._noise import Noise
from .nn._pickling import NumpyPickleMixin

__all__ = ["FittedCCGM", "FittedState", "ModelStateError", "RemovedEdge", "CHUNK_ROWS",
           "MAX_STANDARDIZED", "MAX_SAMPLES"]

#: rows generated per chunk (bounded memory; noise is drawn per chunk)
CHUNK_ROWS = 65_536
#: |standardized value| beyond which an intervention or a removed edge's value is refused
#: (float32 arithmetic through the masks would overflow to inf / NaN)
#: the most rows one call may generate (a frame of that size is already ~8 GB per
#: column of float64; larger requests are refused before anything is allocated)
MAX_SAMPLES = 1_000_000_000


@dataclass(frozen=True)
class RemovedEdge(NumpyPickleMixin):
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

    def insertion(self) -> Insertion:
        """What the child reads in place of the parent (:class:`~dowhy_ccgm._removal.Insertion`)."""
        return Insertion(self.mode, self.state, self.reference)


def _chunk(specs: dict, rows: slice) -> dict:
    """Compiled interventions for the chunk ``rows``: per-unit values sliced to it."""
    return {i: (sp.rows(rows) if isinstance(sp, _RowSlice) else sp) for i, sp in specs.items()}


class _RowSlice:
    """Per-unit intervention states, sliced along with the noise chunks."""

    def __init__(self, state):
        self.state = state

    def rows(self, rows: slice):
        return self.state[rows]


class ModelStateError(ValueError):
    """A part of a :class:`FittedState` that does not fit the rest: ``field`` names it
    (as the model file does), the message says why."""

    def __init__(self, field: str, why: str):
        super().__init__(f"field {field!r} {why}")
        self.field, self.why = field, why


@dataclass(frozen=True)
class FittedState:
    """A :class:`FittedCCGM` as plain values and CPU tensors: the node names and order,
    the exogenous nodes, the mask of allowed edges, the column schema, the net's
    architecture and weights, the removed edges (a ``reference`` of None: files of format
    1, recomputed on load), the root sampling's kind and ``state_dict``."""
    nodes: tuple
    exogenous: tuple
    order: list
    mask: np.ndarray
    schema: Schema
    config: NetConfig
    weights: dict
    removed: tuple = ()
    root_sampling: str = "independent"
    roots: dict | None = None
    n_threads: int | None = None


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
    #: how the roots are drawn (:mod:`dowhy_ccgm._root_sampling`): from stored training
    #: rows' noise, from the roots' Gaussian copula, or each from its own marginal
    roots: RootSampling = IndependentRoots()

    # ------------------------------------------------------------------ state
    def to_state(self) -> "FittedState":
        """Everything this model is, as plain values and CPU tensors (what a model file
        holds; :meth:`from_state` builds it back)."""
        net = self.net
        config = NetConfig(net.variant, net.hidden, net.n_layers, net.encoder_hidden,
                           net.prior, net.objective, net.max_direct_categories)
        return FittedState(
            nodes=self.nodes, exogenous=self.exogenous, order=list(net.order),
            mask=net.mask.cpu().numpy().astype(int), schema=self.schema, config=config,
            weights={k: v.detach().cpu() for k, v in net.state_dict().items()},
            removed=tuple(dataclasses.replace(r, state=r.state.cpu(),
                                              reference=r.reference.cpu())
                          for r in self.removed),
            root_sampling=self.roots.kind, roots=self.roots.state_dict(),
            n_threads=self.n_threads)

    @classmethod
    def from_state(cls, state: "FittedState", device="cpu") -> "FittedCCGM":
        """The model of a :class:`FittedState`: the net built by the one builder fit uses
        (:func:`~dowhy_ccgm._build.build_net`), its weights loaded, the removed edges and
        the root sampling checked against it. A part that does not fit the rest raises
        :class:`ModelStateError` naming it."""
        specs = state.schema.specs
        net = build_net(specs, [c in state.exogenous for c in state.nodes], state.mask,
                        state.order, state.config)
        weights = dict(state.weights)
        for name in ("agg_mu", "agg_sd"):     # (their size is the data's: set by the fit)
            if name in weights:
                setattr(net, name, torch.zeros_like(weights[name]))
        # files before general point masses (or before integer columns were snapped): the
        # value encoding's buffers from the schema, which records the same columns
        if "atom_values" not in weights or "lattice" not in weights:
            weights.update(atom=net.atom.clone(), atom_values=net.atom_values.clone(),
                           lattice=weights.get("lattice", net.lattice).clone())
        # files before the simple mechanisms (:mod:`dowhy_ccgm._simple`): every node keeps
        # its network
        for name, value in net.state_dict().items():
            if ".linear_" in name and name not in weights:
                weights[name] = value
        try:
            net.load_state_dict(weights)
        except RuntimeError as exc:
            raise ModelStateError("state", f"(the weights) do not match the model "
                                           f"description: {exc}") from None
        net.eval()
        net = net.to(device)
        try:
            roots = roots_from_state_dict(state.root_sampling, state.roots, net)
        except RootStateError as exc:
            raise ModelStateError("root_pool", str(exc)) from None
        model = cls(net, state.schema, tuple(state.nodes), tuple(state.exogenous),
                    n_threads=state.n_threads, roots=roots)
        removed = []
        for r in state.removed:
            for node in (r.parent, r.child):
                if node not in model.nodes:
                    raise ModelStateError("edge_overrides", f"names the unknown node {node!r}")
            st = r.state.to(model.device)
            if r.reference is not None:
                ref = r.reference.to(model.device)
            elif r.mode == "pool":    # format 1 did not store it: the pool's reference value
                ref = model._reference_state(model.nodes.index(r.parent), st)
            else:
                ref = st
            removed.append(dataclasses.replace(r, state=st, reference=ref))
        return dataclasses.replace(model, removed=tuple(removed))

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
        """``{(parent index, child index): Insertion}`` for the net; at unit level every
        removed edge feeds its reference state."""
        return {(self.nodes.index(r.parent), self.nodes.index(r.child)):
                r.insertion().at(unit_level) for r in self.removed}

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
                 index=None, unit_level: bool = False, reference=None,
                 observed=None) -> pd.DataFrame:
        """Generate ``n_rows`` rows in chunks of :data:`CHUNK_ROWS`: ``noise_of(rows)`` gives
        the noise of a chunk (drawn per chunk: memory stays bounded whatever ``n_rows``).

        ``reference``: ``(compiled interventions, [(parent, child) index pairs])``, a
        nested counterfactual: each listed edge's child reads its parent's value in the
        reference world (the same noise under those interventions) instead of its own.
        ``observed``: ``(S_obs, seen, X)``, counterfactuals of observed units: a node whose
        inputs are those of abduction keeps its observed state (``CCGMNet.generate``), and
        such a continuous cell shows the unit's own value, exactly (the float32 state
        would change its last digits)."""
        specs, exact = interventions if interventions else (None, {})
        overrides = self.overrides(unit_level)
        ref_specs, ref_edges = reference if reference else (None, ())
        parts, raw = [], []
        with torch.no_grad(), torch_threads(self.n_threads,
                                            min(n_rows, CHUNK_ROWS) * len(self.nodes)):
            for start in range(0, max(n_rows, 1), CHUNK_ROWS):
                rows = slice(start, min(start + CHUNK_ROWS, n_rows))
                cspecs = None if specs is None else _chunk(specs, rows)
                noise = noise_of(rows)
                if noise.root_values is not None:
                    raw.append(noise.root_values)
                obs = None if observed is None else (observed[0][rows], observed[1][rows])
                ov = overrides
                if ref_edges:
                    S_ref = self.net.generate(noise, _chunk(ref_specs, rows), overrides,
                                              generator=generator, observed=obs)
                    ov = {**overrides, **{(p, c): Insertion("rows", S_ref[:, self.net.block(p)])
                                          for p, c in ref_edges}}
                parts.append(self.net.generate(noise, cspecs, ov, generator=generator,
                                               observed=obs))
        S = torch.cat(parts) if len(parts) > 1 else parts[0]
        out = self.frame(S, index)
        if raw and len(raw) == len(parts):
            # a root drawn from a stored training row is that row's value, bit for bit
            # (the state rows hold it in float32)
            values = torch.cat(raw).numpy()
            for k, i in enumerate(self.roots.values_idx):
                col = self.nodes[i]
                out[col] = values[:n_rows, k].astype(out[col].dtype)
        for col, values in exact.items():
            if isinstance(values, list):
                values = np.concatenate(values) if values else values
            if self.schema.by_name[col].kind == "continuous":
                out[col] = np.asarray(values, dtype=np.float64).astype(out[col].dtype)
        if observed is not None:
            S_obs, seen, X = observed
            for i in self.net.cont:
                col = self.nodes[i]
                b = self.net.block(i)
                own = (seen[:, i] & (S[:, b] == S_obs[:, b]).all(1)).cpu().numpy()
                if own.any():
                    values = X[col].to_numpy(dtype=np.float64, na_value=np.nan)
                    out.loc[own, col] = values[own].astype(out[col].dtype)
        return out

    def draw_noise(self, n: int, generator, rows: torch.Tensor | None = None) -> Noise:
        """The exogenous noise of ``n`` new units: the net's prior draws, the roots' noise
        then drawn by :attr:`roots` (under ``root_sampling="empirical"`` jointly from one
        stored training row per unit, so the roots have exactly the data's joint law:
        random rows, or the pool's ``rows`` (n,) when given)."""
        noise = self.net.sample_noise(n, generator)
        draw = self.roots.draw(n, generator, self.device, rows)
        return noise if draw is None else draw.into(noise)

    def pooled_roots(self) -> list:
        """The nodes whose noise :func:`root_pool` stores (the trained graph's roots with a
        noise of their own), in model order; empty without a pool."""
        if not self.roots.pools:
            return []
        return [self.nodes[i] for i in pooled_root_indices(self.net)]

    def pooled_root_rows(self, generator) -> pd.DataFrame:
        """The pooled roots' values, one row per stored training row (the training rows'
        roots themselves: abduction then generation is the identity on them); under
        ``root_sampling="copula"``, :data:`COPULA_EXPORT_ROWS` rows drawn from the copula."""
        if isinstance(self.roots, CopulaRoots):
            return self.generate(COPULA_EXPORT_ROWS, lambda rows: self.draw_noise(
                rows.stop - rows.start, generator), None, generator)[self.pooled_roots()]
        P = self.roots.n_rows
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
        with torch_threads(self.n_threads, len(Xg) * len(self.nodes)):
            noise = self.net.abduct(u, codes, method=abduction, generator=generator,
                                    overrides=self.overrides(unit_level=True))
            if miss is not None:     # a missing node's noise: a draw from its prior
                prior = self.net.sample_noise(len(Xg), generator)
                for i, rows in miss.items():
                    slot = self.net.noise_slot(i)
                    if slot is not None:      # (no noise: its value is its parents')
                        key, col = slot
                        part = noise.part(key)     # (a discrete node's is float64)
                        part[rows, col] = prior.part(key)[rows, col].to(part.dtype)
        # a node whose inputs are those of abduction (no intervention reaches it, or it
        # reaches the unit unchanged) keeps the unit's own value
        S_obs = self.net.encode_states(u, codes)
        seen = torch.as_tensor(~Xg[list(self.nodes)].isna().to_numpy(), device=self.device)
        return self.generate(len(Xg), noise.rows, specs, generator, index=Xg.index,
                             unit_level=True, reference=ref, observed=(S_obs, seen, Xg))

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
            out[k] = torch.as_tensor(np.array(rows), device=self.device)
        return out

    def latents(self, X, abduction: str, extra_columns: str = "raise") -> pd.DataFrame:
        """``z_<node>`` / ``eps_<node>`` of observed rows (``transform``)."""
        u, codes, Xg = self.observed(X, extra_columns)
        with torch.no_grad(), torch_threads(self.n_threads):
            if abduction == "exact":
                ab = self.net.abduct(u, codes, generator=torch.Generator().manual_seed(0),
                                     overrides=self.overrides(unit_level=True), cells=False)
                mu = torch.cat([ab.z, ab.eps], -1).cpu().numpy()
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
