"""Ancestral generation of :class:`~dowhy_ccgm.nn.CCGMNet`: noise, interventions,
removed-edge overrides, one node at a time."""
from __future__ import annotations

import torch

from ._atoms import atom_part
from ._noise import Noise, TorchRandom, prior_noise


def inverse_cdf_codes(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The category of each row drawn by inverse-CDF sampling: the number of cumulative
    probabilities of ``softmax(logits)`` (batch, K) below ``u`` (batch,) in [0, 1).

    The same codes as ``(u > cumsum(softmax(logits))[:, :-1]).sum(-1)`` (up to rounding at
    a category's edge) at a fraction of the cost: torch's softmax and cumsum over a
    narrow last axis are slow on the CPU, so two categories use the sigmoid of the logit
    difference, and more work on the transposed, contiguous (K, batch) block."""
    if u.dtype == torch.float64:          # (an abducted noise: see category_interval)
        logits = logits.double()
    if logits.shape[-1] == 2:
        return (u > torch.sigmoid(logits[:, 0] - logits[:, 1])).long()
    lt = logits.t().contiguous()
    c = (lt - lt.max(0).values).exp_().cumsum_(0)
    return (u * c[-1] > c[:-1]).sum(0)


#: inputs of a node equal to those of abduction within this relative tolerance count as
#: unchanged in a counterfactual (float32 regeneration moves a value by about 1e-7)
SAME_INPUT_TOL = 1e-5


def category_interval(logits: torch.Tensor, code: torch.Tensor) -> tuple:
    """``(lo, hi)`` (batch,) float64: the interval of ``u`` in which
    :func:`inverse_cdf_codes` draws category ``code`` (batch,) when ``u`` is float64 (it
    then works in float64 too). An abducted noise is placed inside it, so that a category
    the model deems almost impossible (a probability below float32's resolution, 1e-8 on
    real rows) is still the unit's own when its counterfactual changes nothing."""
    logits = logits.double()
    if logits.shape[-1] == 2:
        p0 = torch.sigmoid(logits[:, 0] - logits[:, 1])
        first = code == 0
        return torch.where(first, torch.zeros_like(p0), p0), \
            torch.where(first, p0, torch.ones_like(p0))
    c = (logits - logits.max(-1, keepdim=True).values).exp().cumsum(-1)
    c = c / c[:, -1:]
    hi = c.gather(1, code.unsqueeze(-1))[:, 0]
    lo = torch.where(code > 0, c.gather(1, (code - 1).clamp(min=0).unsqueeze(-1))[:, 0],
                     torch.zeros_like(hi))
    return lo, hi


class GenerationMixin:
    """Generation (a mixin of ``CCGMNet``: uses its layout, masks and decoders)."""

    # ------------------------------------------------------------------ generation
    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Noise:
        """The prior noise of ``n`` units (:func:`._noise.prior_noise`)."""
        return Noise(**prior_noise(self, n, TorchRandom(generator, self.mask.device)))

    @torch.no_grad()
    def generate(self, noise: Noise, interventions: dict | None = None,
                 overrides: dict | None = None, generator: torch.Generator | None = None,
                 observed: tuple | None = None):
        """Ancestral pass through the causal layer.

        Parameters
        ----------
        noise : :class:`Noise` from ``sample_noise`` or ``abduct``.
        interventions : {node: state tensor (batch, w) or callable(natural_state) -> state}
        overrides : {(parent, child): :class:`~dowhy_ccgm._removal.Insertion`}
            Edge removal: the child sees the insertion's state instead of the parent (one
            state, a pool row drawn per row with ``generator``, or each row its own state,
            e.g. the parent's value in another world).
        observed : ``(S_obs, seen)``, optional
            Counterfactuals: the units' observed state rows and which cells were observed
            (batch, n) bool. A node that no intervention sets keeps its observed state in
            the rows where everything it reads equals what it read at abduction (its
            parents unchanged, to :data:`SAME_INPUT_TOL`): the unit's own value, however
            far float32 arithmetic or an improbable category would take the regenerated
            one.

        Returns
        -------
        S : state rows (batch, width); continuous blocks are standardized values.
        """
        interventions = interventions or {}
        overrides = overrides or {}
        n_rows = noise.n_rows
        dev = self.mask.device
        S = torch.zeros(n_rows, self.width, device=dev)
        G = self.G
        by_child = self._overrides_by_child(overrides)
        for i in self.order:
            S_in = self._fed(S, by_child[i], generator) if i in by_child else S
            natural = self._natural_state(i, S_in, G, noise)
            if i in interventions:
                spec = interventions[i]
                state = spec(natural) if callable(spec) else spec.to(dev).expand_as(natural)
            else:
                state = natural
                if observed is not None:
                    state = self._own_state(i, state, S_in, observed, by_child.get(i, ()))
            S[:, self.block(i)] = state
        return S

    def _own_state(self, i: int, state: torch.Tensor, S_in: torch.Tensor, observed,
                   items) -> torch.Tensor:
        """Node ``i``'s state with its observed state in the rows whose inputs ``S_in`` are
        those of abduction (the observed parents, removed edges at their constants)."""
        S_obs, seen = observed
        cols = self.parent_columns(i)
        keep = seen[:, i]
        if cols.numel():
            const = [(j, ins) for j, ins in items if ins.mode == "const"]
            before = self._fed(S_obs, const) if const else S_obs
            a, b = S_in[:, cols], before[:, cols]
            keep = keep & ((a - b).abs() <= SAME_INPUT_TOL * (1.0 + b.abs())).all(1)
        return torch.where(keep.unsqueeze(-1), S_obs[:, self.block(i)], state)

    @staticmethod
    def _overrides_by_child(overrides: dict) -> dict:
        """``{(parent, child): override}`` -> ``{child: [(parent, override), ...]}``."""
        by_child = {}
        for (j, i), ov in overrides.items():
            by_child.setdefault(i, []).append((j, ov))
        return by_child

    def _fed(self, S: torch.Tensor, items, generator: torch.Generator | None = None):
        """A copy of the state rows ``S`` in which each removed parent's block holds what
        the child is fed instead (``items``: ``[(parent, Insertion)]``; a pool's rows drawn
        with ``generator``)."""
        S_in = S.clone()
        draw = lambda high, n: torch.randint(high, (n,), generator=generator)  # noqa: E731
        for j, ins in items:
            S_in[:, self.block(j)] = ins.sampled(S.shape[0], draw).to(S.device)
        return S_in

    def _natural_state(self, i, S_in, G, noise):
        return self._node_state(i, S_in, G, self.node_noise(i, noise))

    def _node_state(self, i, S_in, G, noise_i):
        if i in self.formulas:
            return self._formula_state(i, S_in)
        kind = self.noise_kind(i)
        out_i = self.g.forward_node(i, S_in, G) if kind != "latent" or self.atoms[i] \
            else None
        if self.atoms[i]:
            return self._atom_state(i, out_i, noise_i)
        if self.kinds[i] == "continuous":
            eps = noise_i if kind == "normal" else None
            z_hat = self._continuous_output(i, out_i, noise_i, None, sample_noise=eps)
            k = self.cont_pos[i]
            return self.snap(k, self.decoder.forward_column(k, z_hat)).unsqueeze(-1)
        return self.disc_state(i, inverse_cdf_codes(self.disc_logits(i, out_i), noise_i))

    def _atom_state(self, i, out_i, nu):
        """A node with point masses: its state from its noise ``nu`` (mixed-CDF inverse,
        :func:`._atoms.atom_part`): an atom, or the continuous part decoded (on the
        column's lattice for integer and lattice columns)."""
        k = self.cont_pos[i]
        loc, s, logp, e_at, e_lo, e_hi = self.atom_frame(i, out_i, nu.shape[0])
        e, index = atom_part(nu, logp, e_at, e_lo, e_hi)
        u = self.snap(k, self.decoder.forward_column(k, loc + s * e.float()))
        K = int(self.atom[k, 0])
        at = self.atom_values[k, :K][index.clamp(min=0)]
        return torch.where(index >= 0, at, u).unsqueeze(-1)

    # ------------------------------------------------------------------ one node at a time
    def noise_kind(self, i: int) -> str | None:
        """The scalar noise that drives node ``i`` given its parents' states.

        ``"latent"``: an exogenous continuous node's latent ``z_i`` (``N(0, 1)`` under the
        standard prior); ``"normal"``: the noise latent ``eps_i ~ N(0, 1)``; ``"uniform"``:
        a discrete node's ``U(0, 1)`` (inverse-CDF sampling); ``None``: no noise (an
        endogenous continuous node of ``variant="ccgm"`` is a function of its parents).
        """
        if self.kinds[i] != "continuous":
            return "uniform"
        if self.exogenous[i] and self.variant != "causalvae":
            return "latent"
        if i in self.noisy_pos:
            return "normal"
        return None

    def noise_slot(self, i: int) -> tuple | None:
        """Where node ``i``'s scalar noise sits in a :class:`Noise`:
        ``(key, column)`` (``None`` when the node has no noise)."""
        kind = self.noise_kind(i)
        if kind == "latent":
            return "z", self.cont_pos[i]
        if kind == "normal":
            return "eps", self.noisy_pos[i]
        if kind == "uniform":
            return "unif", self.disc_pos[i]
        return None

    def node_noise(self, i: int, noise: Noise) -> torch.Tensor | None:
        """Node ``i``'s scalar noise (batch,) out of a :class:`Noise` (``None`` when the
        node has none)."""
        return noise.node(self.noise_slot(i))

    @torch.no_grad()
    def evaluate_node(self, i: int, S: torch.Tensor, noise_i: torch.Tensor) -> torch.Tensor:
        """State block (batch, w_i) of node ``i`` from its parents and its own noise.

        ``S`` (batch, width) holds state rows; only node ``i``'s parents' blocks are
        read (the mask gates all others). ``noise_i`` (batch,) is of the kind
        ``noise_kind(i)`` (ignored, and may be ``None``, when the node has no noise).
        The ancestral pass of ``generate`` evaluates every node this way.
        """
        return self._node_state(i, S, self.G, noise_i)
