"""Abduction in :class:`~dowhy_ccgm.nn.CCGMNet`: the exact noise of observed rows (decoder
and mask inversion; a discrete node's noise drawn within its observed category's CDF
interval) or the encoder's posterior mean."""
from __future__ import annotations

import torch

from ._atoms import atom_noise
from ._noise import Noise


class AbductionMixin:
    """Abduction (a mixin of ``CCGMNet``: uses its layout, masks, decoders and encoder)."""

    @torch.no_grad()
    def abduct_node(self, i: int, S: torch.Tensor, state_i: torch.Tensor,
                    uniform: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Node ``i``'s noise (batch,) that reproduces its observed state given its parents
        (the inverse of ``evaluate_node``).

        Continuous nodes are inverted exactly (decoder, then the location-scale mask); a
        discrete node's noise is drawn within its observed category's CDF interval,
        ``lo + uniform * (hi - lo)`` (``uniform`` (batch,) in [0, 1), drawn with
        ``generator`` when not given). Nodes without noise get zeros.
        """
        kind = self.noise_kind(i)
        B = S.shape[0]
        if kind is None or i in self.formulas:
            return torch.zeros(B, device=S.device)
        if kind == "uniform":
            if uniform is None:
                uniform = torch.rand(B, generator=generator)
            return self._posterior_uniform(i, self.g.forward_node(i, S, self.G),
                                           self.node_codes(i, state_i), uniform.to(S.device))
        k = self.cont_pos[i]
        u = torch.zeros(B, self.decoder.a.shape[0], device=S.device)
        u[:, k] = state_i[:, 0]
        z = self.decoder.inverse(u)[:, k]
        if self.atoms[i]:
            if uniform is None:
                uniform = torch.rand(B, generator=generator)
            return self._atom_noise(i, self.g.forward_node(i, S, self.G), state_i[:, 0], z,
                                    uniform.to(S.device))
        if kind == "latent":
            return z
        return self._noise_residual(self.g.forward_node(i, S, self.G), z)

    def _atom_noise(self, i: int, out_i: torch.Tensor, u_i: torch.Tensor, z_i: torch.Tensor,
                    r: torch.Tensor) -> torch.Tensor:
        """A node with point masses: its abducted noise (batch,) from its standardized
        values ``u_i`` and their latents ``z_i`` (the decoder's inverse): exact off the
        atoms, a draw (``r`` in [0, 1)) within an atom's CDF interval at one
        (:func:`._atoms.atom_noise`)."""
        loc, s, logp, e_at, e_lo, e_hi = self.atom_frame(i, out_i, u_i.shape[0])
        return atom_noise((z_i - loc) / s, self.atom_index(i, u_i), logp, e_at, e_lo, e_hi, r)

    def _posterior_uniform(self, i: int, out_i: torch.Tensor, code: torch.Tensor,
                           r: torch.Tensor) -> torch.Tensor:
        """A discrete node's abducted U(0, 1) noise: ``r`` (batch,) in [0, 1) placed within
        the CDF interval of its observed ``code`` under the mask output ``out_i``."""
        probs = torch.softmax(self.disc_logits(i, out_i), -1)
        cdf = torch.cumsum(probs, -1)
        hi = cdf.gather(1, code.unsqueeze(-1)).squeeze(-1)
        lo = hi - probs.gather(1, code.unsqueeze(-1)).squeeze(-1)
        return lo + r * (hi - lo)

    def _noise_residual(self, out_i: torch.Tensor, z_i: torch.Tensor) -> torch.Tensor:
        """An endogenous continuous node's exact noise latent: its latent ``z_i`` minus the
        mask's location (divided by its scale for ``variant="ccgm_noise"``)."""
        resid = z_i - out_i[:, 0]
        return resid / self.scale(out_i) if self.variant == "ccgm_noise" else resid

    # ------------------------------------------------------------------ abduction
    @torch.no_grad()
    def abduct(self, u_cont, codes, *, method: str = "exact",
               generator: torch.Generator | None = None, overrides: dict | None = None
               ) -> Noise:
        """Noise that reproduces the observed rows (the abduction step).

        ``"exact"`` inverts the decoder and the masks; ``"encoder"`` takes the
        encoder's posterior mean (what CausalVAE does). ``overrides``
        ``{(parent, child): Insertion("const", state (w,))}``: the child's mechanism sees that
        state in place of the parent (a removed edge at unit level), so that generating
        from the returned noise with the same overrides reproduces the rows.
        """
        S_obs = self.encode_states(u_cont, codes)
        nc = len(self.cont)
        B = S_obs.shape[0]
        if method == "encoder" and self.has_atoms:
            raise ValueError("abduction='encoder' is not available with zero-inflated "
                             "columns: use the exact abduction")
        if method == "encoder":
            mu = self.encoder(S_obs)[:, : max(self.n_latent, 1)]
            z = mu[:, :nc]
            eps = mu[:, nc: nc + len(self.noisy)]
        else:
            z = self.latent_of_value(u_cont) if nc else u_cont
            eps = torch.zeros(B, len(self.noisy), device=S_obs.device)
        gout = self.g(S_obs, self.G, self.input_index())     # (only the parents' columns)
        if overrides:
            if any(ins.mode != "const" for ins in overrides.values()):
                raise ValueError("abduction needs constant edge overrides (a removed "
                                 "edge's reference state)")
            for i, items in self._overrides_by_child(overrides).items():
                gout[:, i] = self.g.forward_node(i, self._fed(S_obs, items), self.G)
        if method == "exact":
            for i in self.noisy:
                eps[:, self.noisy_pos[i]] = self._noise_residual(gout[:, i],
                                                                 z[:, self.cont_pos[i]])
        for i in self.formulas:                     # (a formula node has no noise)
            if i in self.noisy_pos:
                eps[:, self.noisy_pos[i]] = 0.0
        unif = torch.zeros(B, len(self.disc), device=S_obs.device)
        for i in self.disc:
            r = torch.rand(B, generator=generator).to(S_obs.device)
            unif[:, self.disc_pos[i]] = self._posterior_uniform(
                i, gout[:, i], codes[:, self.disc_pos[i]].long(), r)
        atoms = [i for i in self.cont if self.atoms[i]]
        if atoms:                                   # the mixed-CDF noise
            latents = z
            z = z.clone()               # (the latents stay the atoms' inputs below)
            for i in atoms:
                k = self.cont_pos[i]
                r = torch.rand(B, generator=generator).to(S_obs.device)
                nu = self._atom_noise(i, gout[:, i], u_cont[:, k], latents[:, k], r)
                if self.noise_kind(i) == "latent":
                    z[:, k] = nu
                else:
                    eps[:, self.noisy_pos[i]] = nu
        return Noise(z, eps, unif)

    @torch.no_grad()
    def encode(self, u_cont, codes) -> torch.Tensor:
        """Encoder posterior mean (batch, n_latent)."""
        S_obs = self.encode_states(u_cont, codes)
        return self.encoder(S_obs)[:, : self.n_latent]
