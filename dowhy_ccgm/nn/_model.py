"""The CCGM network: encoder, causal layer ``A = G + B`` with nonlinear masks and
per-node decoders; its layout, state encodings and parameters live here, the training
objectives in :mod:`._objectives`, ancestral generation in :mod:`._generation` and
abduction in :mod:`._abduction` (mixins of :class:`CCGMNet`).

Tensor conventions (no pandas here):

* nodes are indexed ``0..n-1``; ``kinds[i]`` is ``"continuous"``, ``"binary"`` or
  ``"categorical"``; ``atoms[i]`` is the number of point masses of a continuous node
  (zeros, floors, caps: :mod:`._atoms`);
* a *state* row is the concatenation of every node's block: a continuous node's
  block is its standardized value ``u_i = dec_i(z_hat_i)`` (1 value), a binary
  node's is ``value - 0.5``, a categorical node's is its one-hot (K values), or, with
  more than ``MAX_DIRECT_CATEGORIES`` levels, its code (1 value, read by the children's
  lookup tables).
  Children's masks read their parents' states: the parent concept enters the
  layer aligned to its label (the paper's conditional prior ``N(u_n, I)`` taken
  to its limit), so training can feed the observed labels (teacher forcing) and
  generation feeds the generated ones with no mismatch between the two;
* continuous targets are standardized values ``u`` (batch, n_cont); discrete
  targets are integer codes (batch, n_disc).

Variants of the causal layer (``variant``):

``"ccgm"``
    The paper (eq. 13): exogenous nodes pass their latent (``B_ii = 1``);
    an endogenous node is ``z_i = g_i(A_i ∘ z)``, a function of its parents only.
``"ccgm_noise"``
    CCGM plus one exogenous noise latent per endogenous continuous node that
    enters only that node's own mask: ``z_i = m_i(A_i ∘ z) + s_i(A_i ∘ z) eps_i``.
    No path bypasses the layer; endogenous nodes keep their conditional spread
    and unit-level counterfactuals exist.
``"causalvae"``
    CausalVAE's ``z = A^T z + eps`` with masks: ``z_i = g_i(A_i ∘ z) + eps_i`` for
    every node, eps inferred by the encoder (the leakage the paper argues against).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from ._abduction import AbductionMixin
from ._atoms import MAX_ATOMS, NO_BOUND, log_probs
from ._generation import GenerationMixin, inverse_cdf_codes
from ._layers import GatedNodeMLP, MonotoneMap
from ._objectives import ObjectivesMixin
from ._pickling import NumpyPickleMixin

__all__ = ["CCGMNet", "VARIANTS", "OBJECTIVES", "KINDS", "inverse_cdf_codes"]

VARIANTS = ("ccgm", "ccgm_noise", "causalvae")
#: categorical nodes with more levels read their logits through a rank-HEAD_RANK head
MAX_DIRECT_CATEGORIES = 16
HEAD_RANK = 16
OBJECTIVES = ("exact", "elbo")
KINDS = ("continuous", "binary", "categorical")


def as_slice(values, index: torch.Tensor):
    """``slice(a, b)`` when ``values`` are the consecutive integers ``a, ..., b - 1``
    (indexing by it is then a view), else the index tensor itself."""
    values = list(values)
    if values and values == list(range(values[0], values[0] + len(values))):
        return slice(values[0], values[0] + len(values))
    return index


class CCGMNet(NumpyPickleMixin, ObjectivesMixin, GenerationMixin, AbductionMixin,
              nn.Module):
    """CCGM over ``n`` nodes.

    Parameters
    ----------
    kinds : list of str
    n_categories : list of int
        Categories per node (ignored for continuous, 2 for binary).
    exogenous : list of bool
        ``B_ii``: nodes whose latent passes through the layer unchanged.
    mask : bool Tensor, shape (n, n)
        Allowed edges ``mask[j, i]`` for ``j -> i``.
    order : list of int
        A topological order of the graph used for generation.
    variant, hidden, n_layers, encoder_hidden, prior : see ``CCGMGenerator``.
    atoms : list of int (or bool), optional
        The number of point masses of each continuous node (:mod:`._atoms`; ``True`` is
        one; their values are set by :meth:`set_atoms`). Such nodes need
        ``objective="exact"`` and a noise of their own.
    max_direct_categories : int or None, default=MAX_DIRECT_CATEGORIES
        Categorical nodes with more levels keep their code as state, are read through
        lookup tables and emit logits through a rank-``HEAD_RANK`` head; ``None`` gives
        every category its own input and output (the layout of format-2 model files).
    """

    def __init__(self, kinds, n_categories, exogenous, mask, order, *, variant="ccgm_noise",
                 hidden=32, n_layers=2, encoder_hidden=64, prior="standard", objective="exact",
                 atoms=None, max_direct_categories: int | None = MAX_DIRECT_CATEGORIES):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        # CausalVAE is defined by its encoder-inferred eps: always the ELBO
        self.objective = "elbo" if variant == "causalvae" else objective
        n = len(kinds)
        self.n = n
        self.kinds = list(kinds)
        self.variant = variant
        self.prior = prior
        self.order = [int(i) for i in order]
        self.n_categories = [int(k) for k in n_categories]
        self.exogenous = [bool(e) for e in exogenous]
        # a categorical node with more than ``max_direct_categories`` levels is "wide": its
        # state block is its code (one column; children read a learned row per level,
        # GatedNodeMLP's lookup tables) and its logits come through a low-rank head
        # (``cat_head``) from the first HEAD_RANK mask outputs, so one many-level column
        # widens neither the state rows nor every node's output
        cap = math.inf if max_direct_categories is None else int(max_direct_categories)
        self.max_direct_categories = max_direct_categories
        # (the architecture, as built: a saved model is rebuilt from these)
        self.hidden, self.n_layers = int(hidden), int(n_layers)
        self.encoder_hidden = int(encoder_hidden)
        self.wide = [i for i in range(n) if self.kinds[i] == "categorical"
                     and self.n_categories[i] > cap]
        self.block_sizes = [k if kind == "categorical" and i not in self.wide else 1
                            for i, (kind, k) in enumerate(zip(self.kinds, self.n_categories))]
        offsets = [0]
        for s in self.block_sizes:
            offsets.append(offsets[-1] + s)
        self.offsets = offsets
        self.width = offsets[-1]
        self.cont = [i for i in range(n) if self.kinds[i] == "continuous"]
        self.disc = [i for i in range(n) if self.kinds[i] != "continuous"]
        self.cont_pos = {i: k for k, i in enumerate(self.cont)}
        self.disc_pos = {i: k for k, i in enumerate(self.disc)}
        # continuous nodes that carry an extra noise latent eps_i
        if variant == "ccgm_noise":
            self.noisy = [i for i in self.cont if not self.exogenous[i]]
        elif variant == "causalvae":
            self.noisy = list(self.cont)
        else:
            self.noisy = []
        self.noisy_pos = {i: k for k, i in enumerate(self.noisy)}
        self.n_latent = len(self.cont) + len(self.noisy)
        # continuous nodes with point masses: atom k (value ``atom_values[c, k]``,
        # standardized) with probability softmax([0, mask outputs 2..K+1])[k + 1], the
        # decoder's (truncated) density otherwise
        self.n_atoms = [0] * n if atoms is None else [int(a) for a in atoms]
        self.atoms = [a > 0 for a in self.n_atoms]
        for i, a in enumerate(self.n_atoms):
            if a > MAX_ATOMS:
                raise ValueError(f"node {i}: at most {MAX_ATOMS} point masses, got {a}")
            if a and self.kinds[i] != "continuous":
                raise ValueError(f"node {i}: only a continuous node can have a point mass")
            if a and (self.objective != "exact" or self.noise_kind(i) is None):
                raise ValueError(
                    f"node {i}: a zero-inflated node needs objective='exact' and its own "
                    "noise (variant='ccgm_noise', or a root)")

        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.float32).clone())
        self.register_buffer("is_categorical", torch.tensor(
            [k == "categorical" for k in self.kinds], dtype=torch.bool))
        self.register_buffer("B", torch.diag(torch.tensor(self.exogenous, dtype=torch.float32)))
        self.W = nn.Parameter(torch.zeros(n, n))
        n_out = max([2 + max(self.n_atoms, default=0)]
                    + [k for i, (kind, k) in enumerate(zip(self.kinds, self.n_categories))
                       if kind == "categorical" and i not in self.wide]
                    + ([HEAD_RANK] if self.wide else []))
        lookup = {i: self.n_categories[i] for i in self.wide}
        self.g = GatedNodeMLP(self.block_sizes, n_out, hidden, n_layers,
                              lookup=lookup)                          # latent masks, eq. 13
        self.f = GatedNodeMLP(self.block_sizes, n_out, hidden, n_layers,
                              lookup=lookup)                          # label masks, eq. 4
        # linear label model for pre-training: u_i = sum_j G_ji proj_j(state_j) + b_i
        self.lin_bias = nn.Parameter(torch.zeros(n, n_out))
        self.lin_scale = nn.Parameter(torch.ones(n, n_out))
        self.cat_embed = nn.ParameterDict({
            str(i): nn.Parameter(torch.linspace(-1, 1, self.n_categories[i]))
            for i in range(n) if self.kinds[i] == "categorical"})
        self.decoder = MonotoneMap(max(len(self.cont), 1))
        self.log_tau = nn.Parameter(torch.full((max(len(self.cont), 1),), math.log(0.1)))
        L = max(self.n_latent, 1)
        self.encoder = nn.Sequential(
            nn.Linear(self.width, encoder_hidden), nn.SiLU(),
            nn.Linear(encoder_hidden, encoder_hidden), nn.SiLU(),
            nn.Linear(encoder_hidden, 2 * L))
        self.n_out = n_out
        # set while fitting data with missing cells (NaN state blocks): the likelihood
        # then keeps each node's factor only where the node and its parents are observed
        self.fit_missing = False
        # integer (lattice) continuous columns: [step, mean, sd, lower, upper] per
        # continuous column (``set_lattice``); generation snaps them to their lattice
        self.register_buffer("lattice", torch.zeros(max(len(self.cont), 1), 5))
        # continuous columns with point masses (set_atoms; :mod:`._atoms`): [number of
        # atoms, floor (the first atom is the minimum), cap (the last is the maximum), half
        # the lattice step (standardized)], and the atoms' standardized values, ascending
        # (0 beyond a column's count)
        self.register_buffer("atom", torch.zeros(max(len(self.cont), 1), 4))
        self.register_buffer("atom_values", torch.zeros(max(len(self.cont), 1), MAX_ATOMS))
        with torch.no_grad():
            self.atom[: len(self.cont), 0] = torch.tensor(
                [float(self.n_atoms[i]) for i in self.cont])
        self._register_index_buffers()
        self.formulas = {}
        self.has_formula = False
        # aggregate posterior of exogenous latents (used by the conditional prior)
        self.register_buffer("agg_mu", torch.zeros(0, len(self.cont)))
        self.register_buffer("agg_sd", torch.ones(0, len(self.cont)))
        # many-level categorical nodes: logits = out[:, :HEAD_RANK] @ head + bias (created
        # last: the other parameters' initial values do not depend on them)
        self.cat_head = nn.ParameterDict({
            str(i): nn.Parameter(0.1 * torch.randn(HEAD_RANK, self.n_categories[i]))
            for i in self.wide})
        self.cat_head_bias = nn.ParameterDict({
            str(i): nn.Parameter(torch.zeros(self.n_categories[i])) for i in self.wide})

    def _apply(self, fn, *args, **kwargs):
        # (moving or casting the module replaces its tensors: the decoder inverses kept
        # by ``_atom_latents`` are forgotten)
        self.__dict__.pop("_atom_latent_memo", None)
        return super()._apply(fn, *args, **kwargs)

    def _register_index_buffers(self):
        """Index tensors that let the losses treat all nodes of a kind at once (no
        per-node Python loops on the training path). Not saved: rebuilt from the
        constructor's arguments."""
        def buf(name, values, dtype):
            self.register_buffer(name, torch.tensor(values, dtype=dtype), persistent=False)
        n_out = self.n_out
        buf("cont_idx", self.cont, torch.long)
        buf("disc_idx", self.disc, torch.long)
        buf("cont_offset", [self.offsets[i] for i in self.cont], torch.long)
        # the same selections as slices where they are contiguous ranges (a view, not a
        # gather, on the training path: no copy forward, no scatter backward)
        self.cont_nodes = as_slice(self.cont, self.cont_idx)
        self.disc_nodes = as_slice(self.disc, self.disc_idx)
        self.cont_columns = as_slice([self.offsets[i] for i in self.cont], self.cont_offset)
        exo_pass = [self.exogenous[i] and self.variant != "causalvae" for i in self.cont]
        buf("cont_exo", exo_pass, torch.bool)
        buf("cont_det", [not e and i not in self.noisy_pos
                         for e, i in zip(exo_pass, self.cont)], torch.bool)
        buf("cont_endo", [not self.exogenous[i] for i in self.cont], torch.bool)
        self.has_deterministic = bool(any(self.cont_det.tolist()))   # no sync per step
        self.has_atoms = any(self.atoms)
        buf("disc_endo", [not self.exogenous[i] for i in self.disc], torch.bool)
        buf("disc_binary", [self.kinds[i] == "binary" for i in self.disc], torch.bool)
        valid = torch.zeros(len(self.disc), n_out, dtype=torch.bool)
        for r, i in enumerate(self.disc):
            valid[r, : min(self.n_categories[i], n_out)] = True
        self.register_buffer("disc_valid", valid, persistent=False)
        # scalar summary of every state block for the linear label model: 1 for a
        # continuous/binary block, the category embedding for a categorical one
        buf("block_of_column", [j for j, w in enumerate(self.block_sizes) for _ in range(w)],
            torch.long)

    def set_mask(self, mask: torch.Tensor) -> None:
        """Replace the allowed edges (structure learning keeps its learned DAG this way);
        :meth:`input_index` is computed again."""
        with torch.no_grad():
            self.mask.copy_(mask.to(self.mask.device))
        self._input_cache = None
        self._parent_cols = None

    def input_index(self):
        """``(index, valid)`` (n, P) of the state columns every node may read (its
        allowed parents' blocks under ``mask``), for :meth:`GatedNodeMLP.forward`; None
        when the graph is dense enough that the full first layer is as cheap. Cached
        until :meth:`set_mask` changes the mask."""
        key = self.mask.data_ptr()
        cached = getattr(self, "_input_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        cols = [self.parent_columns(i).tolist() for i in range(self.n)]
        P = max([len(c) for c in cols] + [1])
        result = None
        if 2 * P <= self.width:
            index = torch.zeros(self.n, P, dtype=torch.long)
            valid = torch.zeros(self.n, P)
            for i, c in enumerate(cols):
                index[i, :len(c)] = torch.tensor(c, dtype=torch.long)
                valid[i, :len(c)] = 1.0
            result = (index.to(self.mask.device), valid.to(self.mask.device))
        self._input_cache = (key, result)
        return result

    def parent_columns(self, i: int) -> torch.Tensor:
        """The state columns node ``i`` may read (its allowed parents' blocks under the
        mask), cached until :meth:`set_mask` changes the mask (or a move its device)."""
        key = self.mask.data_ptr()
        cache = getattr(self, "_parent_cols", None)
        if cache is None or cache[0] != key:
            mask = self.mask.detach().cpu().numpy() != 0
            cache = self._parent_cols = (key, [
                torch.tensor([c for j in range(self.n) if mask[j, k]
                              for c in range(self.offsets[j], self.offsets[j + 1])],
                             dtype=torch.long, device=self.mask.device)
                for k in range(self.n)])
        return cache[1][i]

    # ------------------------------------------------------------------ structure
    @property
    def G(self) -> torch.Tensor:
        """Masked DAG part ``G = W ∘ M``, shape (n, n)."""
        return self.W * self.mask

    @property
    def A(self) -> torch.Tensor:
        """``A = G + B`` (eq. 12)."""
        return self.G + self.B

    def block(self, i: int) -> slice:
        return slice(self.offsets[i], self.offsets[i + 1])

    # ------------------------------------------------------------------ encodings
    def encode_states(self, u_cont: torch.Tensor | None, codes: torch.Tensor,
                      out: torch.Tensor | None = None) -> torch.Tensor:
        """Observed data -> state rows with continuous blocks = standardized values.

        With ``out`` (state rows whose continuous blocks are already written, e.g. by
        ``Schema.standardize_into``) and ``u_cont=None``, only the discrete blocks are
        filled, in place."""
        if out is not None:
            S = out
        else:
            B = u_cont.shape[0] if u_cont.numel() else codes.shape[0]
            S = torch.zeros(B, self.width, dtype=torch.float32, device=self.mask.device)
        if u_cont is not None:
            for i in self.cont:
                S[:, self.offsets[i]] = u_cont[:, self.cont_pos[i]]
        for i in self.disc:
            S[:, self.block(i)] = self.disc_state(i, codes[:, self.disc_pos[i]])
        return S

    def disc_state(self, i: int, code: torch.Tensor) -> torch.Tensor:
        """A discrete node's state block from its codes (a code of -1, a missing value,
        gives a block of NaN)."""
        if self.kinds[i] == "binary":
            state = (code.float() - 0.5).unsqueeze(-1)
        elif i in self.wide:
            state = code.float().unsqueeze(-1)
        else:
            state = F.one_hot(code.long().clamp(min=0), self.n_categories[i]).float()
        if self.fit_missing:
            state = state.masked_fill((code < 0).unsqueeze(-1), math.nan)
        return state

    def observed_factors(self, S: torch.Tensor):
        """``(S0, w)`` for state rows ``S`` that may hold missing cells (NaN blocks): ``S``
        with NaN as 0 (what the masks read), and ``w`` (batch, n) bool, whether each node's
        factor ``p(x_i | pa_i)`` is observed (the node and all its parents are). ``w`` is
        None when the net is not fitting data with missing cells."""
        if not self.fit_missing:
            return S, None
        miss = torch.isnan(S[:, self.offsets[:-1]])                         # (batch, n)
        w = ~(miss | ((miss.float() @ self.mask) > 0))
        return torch.nan_to_num(S, nan=0.0), w

    def disc_logits(self, i: int, out_i: torch.Tensor) -> torch.Tensor:
        """Mechanism output -> logits (batch, K); binary gets [0, logit]; a many-level
        categorical node its low-rank head."""
        if self.kinds[i] == "binary":
            return torch.stack([torch.zeros_like(out_i[:, 0]), out_i[:, 0]], dim=-1)
        if i in self.wide:
            return torch.addmm(self.cat_head_bias[str(i)], out_i[:, :HEAD_RANK],
                               self.cat_head[str(i)])
        return out_i[:, : self.n_categories[i]]

    def set_lattice(self, rows) -> None:
        """``rows``: per continuous column ``(step, mean, sd, lower, upper)``: its lattice
        step (0: none), standardization and bounds of generation (+-inf: none;
        ``ColumnSpec.generation_bounds``)."""
        rows = list(rows)
        if not rows:
            return
        with torch.no_grad():
            self.lattice[: len(rows)] = torch.as_tensor(rows, dtype=torch.float32)

    def set_atoms(self, values, floor=None, cap=None, half_step=None) -> None:
        """Per continuous column: its point masses' standardized values (a list, empty
        for none; a scalar is one atom), whether the first is the column's minimum
        (``floor``) and the last its maximum (``cap``), and half its lattice step in
        standardized units (0 for a float column); ignored for columns without atoms."""
        values = [list(v) if isinstance(v, (list, tuple)) else [v] for v in values]
        if not values:
            return
        nc = len(values)
        floor = [False] * nc if floor is None else list(floor)
        cap = [False] * nc if cap is None else list(cap)
        half_step = [0.0] * nc if half_step is None else list(half_step)
        with torch.no_grad():
            for k, v in enumerate(values):
                K = int(self.atom[k, 0])
                if K == 0:
                    continue
                if len(v) != K:
                    raise ValueError(f"continuous column {k}: {len(v)} atom values for "
                                     f"{K} atoms")
                self.atom_values[k, :K] = torch.as_tensor(sorted(v), dtype=torch.float32)
                self.atom[k, 1:] = torch.tensor([float(floor[k]), float(cap[k]),
                                                 float(half_step[k])])

    def atom_lower(self, i: int) -> bool:
        """Whether node ``i``'s first point mass is its floor (the continuous part lies
        above it)."""
        return bool(self.atom[self.cont_pos[i], 1] > 0)

    def atom_cap(self, i: int) -> bool:
        """Whether node ``i``'s last point mass is its cap (the continuous part lies below
        it)."""
        return bool(self.atom[self.cont_pos[i], 2] > 0)

    def atom_bound_values(self, i: int) -> torch.Tensor:
        """The standardized values (2,) that bound node ``i``'s continuous part where it
        has a floor or a cap: half a lattice step inside its first and its last point
        mass (the atoms themselves for a float column)."""
        c = self.cont_pos[i]
        K, h = int(self.atom[c, 0]), self.atom[c, 3]
        return torch.stack([self.atom_values[c, 0] + h, self.atom_values[c, K - 1] - h])

    def atom_index(self, i: int, u_i: torch.Tensor) -> torch.Tensor:
        """Which point mass of node ``i`` its standardized values ``u_i`` sit at (batch,)
        long, -1 off them."""
        k = self.cont_pos[i]
        K = int(self.atom[k, 0])
        hit = u_i.unsqueeze(-1) == self.atom_values[k, :K]
        return torch.where(hit.any(-1), hit.float().argmax(-1),
                           torch.full_like(u_i, -1.0)).long()

    def at_atom(self, i: int, u_i: torch.Tensor) -> torch.Tensor:
        """Whether node ``i``'s standardized values ``u_i`` sit at one of its point masses
        (batch,) bool."""
        return self.atom_index(i, u_i) >= 0

    def atom_rows(self, u: torch.Tensor) -> torch.Tensor:
        """(batch, n_cont) bool: the continuous values ``u`` that sit at a point mass of
        their column."""
        hit = torch.zeros_like(u, dtype=torch.bool)
        for i in self.cont:
            if self.atoms[i]:
                k = self.cont_pos[i]
                hit[:, k] = self.at_atom(i, u[:, k])
        return hit

    @property
    def has_lattice(self) -> bool:
        return bool(self.cont) and bool(self.lattice[: len(self.cont), 0].any())

    def lattice_step(self) -> torch.Tensor:
        """(n_cont,) the standardized width of one lattice step (0 for float columns):
        the exact fit dequantizes lattice columns (integers, values recorded to a fixed
        number of decimals) with uniform noise of that width."""
        L = self.lattice[: len(self.cont)]
        return torch.where(L[:, 0] > 0, L[:, 0] / L[:, 2].clamp(min=1e-12),
                           torch.zeros_like(L[:, 0]))

    def set_formulas(self, formulas: dict) -> None:
        """Exact formula nodes (:mod:`dowhy_ccgm._formula`): ``{node: (factors, terms,
        coef, mean, sd, step)}`` where ``factors`` lists ``(state column, a, b)`` (the
        parent's value is ``a + b * state``), ``terms`` lists tuples of ``(factor index,
        power)``, ``coef`` the terms' coefficients, ``mean``/``sd`` the node's
        standardization and ``step`` its lattice step (0: none). Such a node's state is
        its formula of its parents' states: it has no noise, and its factor leaves the
        likelihood (a point mass given the parents). Set after construction, at fit and at
        load alike (not saved: the schema records the formulas)."""
        self.formulas = {int(i): f for i, f in formulas.items()}
        for i in self.formulas:
            if self.kinds[i] != "continuous" or self.exogenous[i] or self.atoms[i]:
                raise ValueError(f"node {i}: a formula node must be a continuous endogenous "
                                 "node without point masses")
        flags = [i in self.formulas for i in self.cont]
        self.register_buffer("cont_formula", torch.tensor(flags, dtype=torch.bool,
                                                          device=self.mask.device),
                             persistent=False)
        self.has_formula = bool(any(flags))
        with torch.no_grad():
            self.cont_endo.copy_(torch.tensor(
                [not self.exogenous[i] and i not in self.formulas for i in self.cont],
                dtype=torch.bool))

    def _formula_state(self, i: int, S: torch.Tensor) -> torch.Tensor:
        """A formula node's state block (batch, 1) from its parents' states (float64
        arithmetic; rounded to the node's lattice, never clipped to its training range:
        a formula holds beyond the data too)."""
        factors, terms, coef, mean, sd, step = self.formulas[i]
        vals = [a + b * S[:, col].double() for col, a, b in factors]
        x = torch.zeros(S.shape[0], dtype=torch.float64, device=S.device)
        for term, c in zip(terms, coef):
            t = torch.full_like(x, float(c))
            for f, p in term:
                t = t * vals[f] ** p
            x = x + t
        if step > 0:
            x = torch.round(x / step) * step
        return ((x - mean) / sd).to(S.dtype).unsqueeze(-1)

    def snap(self, k: int, u: torch.Tensor) -> torch.Tensor:
        """Continuous column ``k``'s standardized values on its lattice (clipped to its
        bounds, ``ColumnSpec.generation_bounds``) when it is an integer or lattice column:
        children then see the value the output shows."""
        row = self.lattice[k]
        if not bool(row[0] > 0):
            return u
        x = torch.round((u * row[2] + row[1]) / row[0]) * row[0]
        x = x.clamp(row[3], row[4])
        return (x - row[1]) / row[2]

    def atom_frame(self, i: int, out_i: torch.Tensor | None, batch: int,
                   differentiable: bool = False):
        """A node with point masses given its mask output: ``(loc, s, logp, e_at, e_lo,
        e_hi)``, the continuous part's location and scale in latent units (``0, 1`` for a
        root), the log-probabilities (batch, K + 1) of the part and of each atom, the
        atoms' places (batch, K) on the part's noise scale and the part's bounds (batch,)
        (:mod:`._atoms`). ``differentiable``: the decoder's inverse of the atom values
        carries the implicit-function gradient (training)."""
        K = int(self.atom[self.cont_pos[i], 0])
        floor, cap, w = self._atom_latents(i, differentiable)
        if self.noise_kind(i) == "latent":
            dev = self.atom.device
            loc = torch.zeros(batch, device=dev)
            s = torch.ones(batch, device=dev)
        else:
            loc, s = out_i[:, 0], self.scale(out_i)
        e = (w.unsqueeze(0) - loc.unsqueeze(-1)) / s.unsqueeze(-1)       # (batch, K + 2)
        e_lo = e[:, K] if floor else torch.full_like(loc, -NO_BOUND)
        e_hi = e[:, K + 1] if cap else torch.full_like(loc, NO_BOUND)
        return loc, s, log_probs(out_i[:, 2:2 + K]), e[:, :K], e_lo, e_hi

    def _atom_latents(self, i: int, differentiable: bool = False):
        """``(floor, cap, w)``: whether node ``i``'s continuous part has a floor and a
        cap, and the latents (decoder inverses, (K + 2,)) of its K atoms and of the part's
        lower and upper bounds (half a step inside a lattice's atoms)."""
        c = self.cont_pos[i]
        key = None
        if not differentiable:
            # (generation asks for the same few inverses at every call: they are kept
            # with the values they were computed from, the decoders' parameters and the
            # atoms, and computed again when any differs)
            key = torch.cat([t.detach().reshape(-1) for t in (
                *self.decoder.parameters(), self.atom, self.atom_values)])
            kept = self.__dict__.setdefault("_atom_latent_memo", {}).get(i)
            if kept is not None and torch.equal(kept[0], key):
                return self.atom_lower(i), self.atom_cap(i), kept[1]
        K = int(self.atom[c, 0])
        grid = torch.cat([self.atom_values[c, :K], self.atom_bound_values(i)])
        y = torch.zeros(K + 2, self.decoder.a.shape[0], device=grid.device)
        y[:, c] = grid
        w = (self.decoder.inverse_differentiable(y) if differentiable
             else self.decoder.inverse(y))[:, c]
        if key is not None:
            self._atom_latent_memo[i] = (key, w.detach())
        return self.atom_lower(i), self.atom_cap(i), w

    @torch.no_grad()
    def atom_bounds(self, i: int) -> tuple:
        """Node ``i``'s continuous part's bounds in latent units, ``(lower, upper)``
        floats (``-inf``/``inf`` where it has no floor/cap): its values ``dec(z)`` lie
        strictly between its floor and cap exactly when ``z`` lies between these."""
        floor, cap, w = self._atom_latents(i)
        K = w.shape[0] - 2
        return (float(w[K]) if floor else -math.inf, float(w[K + 1]) if cap else math.inf)

    def scale(self, out_i: torch.Tensor) -> torch.Tensor:
        return F.softplus(out_i[:, 1]) + 1e-3

    def decode(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Latent of continuous nodes (batch, n_cont) -> standardized values."""
        return self.decoder(z_hat)

    def latent_of_value(self, u: torch.Tensor) -> torch.Tensor:
        """Exact inverse of the decoder: standardized values -> latents."""
        return self.decoder.inverse(u)

    def node_codes(self, i: int, state: torch.Tensor) -> torch.Tensor:
        """A discrete node's state block (batch, w) -> its category codes (batch,): the one
        decoding of a binary (sign) or categorical (one-hot) state."""
        if self.kinds[i] == "binary":
            return (state[:, 0] > 0).long()
        if i in self.wide:
            return state[:, 0].round().long().clamp(0, self.n_categories[i] - 1)
        return state.argmax(-1)

    def states_to_codes(self, S: torch.Tensor) -> torch.Tensor:
        codes = [self.node_codes(i, S[:, self.block(i)]) for i in self.disc]
        if not codes:
            return torch.zeros(S.shape[0], 0, dtype=torch.long, device=S.device)
        return torch.stack(codes, -1)
