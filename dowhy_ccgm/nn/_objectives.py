"""The training objectives of :class:`~dowhy_ccgm.nn.CCGMNet`: the exact likelihood of
the parameters generation uses (given the graph), and the paper's ELBO terms (label loss
with the masks ``f``, the latent loss, KL, the DAG penalty)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._atoms import atom_nll, log_ndtr_diff
from ._layers import dag_penalty

_MIN_LOG_TAU = math.log(0.02)


class ObjectivesMixin:
    """Losses of the network (a mixin of ``CCGMNet``: uses its layout and parameters)."""

    # ------------------------------------------------------------------ training losses
    def label_predictions(self, S_obs: torch.Tensor, linear: bool) -> torch.Tensor:
        """Label-space masks f_i(A_i ∘ u) (eq. 4) -> (batch, n, n_out)."""
        G = self.G
        if not linear:
            return self.f(S_obs, G)
        # scalar parent summaries V (batch, n): a continuous/binary block's value, a
        # categorical block's one-hot times the category embedding
        weight = torch.ones(self.width, device=S_obs.device)
        for key, emb in self.cat_embed.items():
            if int(key) in self.wide:
                continue
            weight = weight.index_put((torch.arange(self.offsets[int(key)],
                                                    self.offsets[int(key) + 1],
                                                    device=S_obs.device),), emb)
        SW = S_obs * weight
        V = SW.new_zeros(S_obs.shape[0], self.n).index_add(1, self.block_of_column, SW)
        for j in self.wide:        # a wide block is its code: its embedding by lookup
            code = S_obs[:, self.offsets[j]].round().long()
            V = V.index_put((torch.arange(V.shape[0], device=V.device),
                             torch.full_like(code, j)), self.cat_embed[str(j)][code])
        lin = V @ G                                   # (batch, n): sum_j G_ji v_j
        # a categorical child needs one slope per category; elsewhere G is the slope
        # itself (so A is identifiable: the linear SCM's standardized weights)
        scale = torch.where(self.is_categorical.unsqueeze(-1), self.lin_scale,
                            torch.ones_like(self.lin_scale))
        return self.lin_bias + scale * lin.unsqueeze(-1)

    def discrete_nll(self, out: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of every discrete node at once: ``out`` (batch, n, n_out) mask
        outputs, ``codes`` (batch, n_disc) -> (batch, n_disc) per-row negative
        log-likelihoods (a binary node's logits are ``[0, out_0]``, a categorical node's
        its first K outputs)."""
        od = out[:, self.disc_nodes]
        binary = F.pad(od[..., :1], (1, self.n_out - 2))
        logits = torch.where(self.disc_binary.view(1, -1, 1), binary, od)
        logits = logits.masked_fill(~self.disc_valid.unsqueeze(0), -math.inf)
        codes = codes.long()
        if not self.wide:
            picked = logits.gather(-1, codes.unsqueeze(-1)).squeeze(-1)
            return torch.logsumexp(logits, -1) - picked
        # many-level nodes: their heads' cross-entropy (the batched columns are placeholders)
        narrow = codes.clamp(max=self.n_out - 1)
        nll = torch.logsumexp(logits, -1) - logits.gather(-1, narrow.unsqueeze(-1)).squeeze(-1)
        cols = [nll[:, r] for r in range(nll.shape[1])]
        for i in self.wide:
            r = self.disc_pos[i]
            cols[r] = F.cross_entropy(self.disc_logits(i, out[:, i]), codes[:, r],
                                      reduction="none")
        return torch.stack(cols, -1)

    def label_loss(self, S_obs, u_cont, codes, linear: bool) -> torch.Tensor:
        """l_u (eq. 4) over non-exogenous nodes (missing cells: over the rows where a node
        and its parents are observed)."""
        S_obs, w = self.observed_factors(S_obs)
        if w is not None:
            u_cont, codes = torch.nan_to_num(u_cont, nan=0.0), codes.clamp(min=0)
        pred = self.label_predictions(S_obs, linear)
        loss = S_obs.new_zeros(())

        def mean(values, cols):
            if w is None:
                return values.mean(0)
            wk = w[:, cols].float()
            return (values * wk).sum(0) / wk.sum(0).clamp(min=1.0)
        if self.cont:
            sq = (u_cont - pred[:, self.cont_idx, 0]) ** 2
            loss = loss + (mean(sq, self.cont_nodes) * self.cont_endo).sum()
        if self.disc:
            loss = loss + (mean(self.discrete_nll(pred, codes), self.disc_nodes)
                           * self.disc_endo).sum()
        return loss

    def exact_terms(self, S_obs: torch.Tensor, u_cont: torch.Tensor, codes: torch.Tensor,
                    z_init: torch.Tensor | None = None,
                    node_weights: torch.Tensor | None = None,
                    node_terms: bool = False) -> dict:
        """The exact negative log-likelihood of observed rows, all nodes at once.

        With the graph given, ``-log p(x) = sum_i -log p(x_i | pa_i)``: a continuous
        node's term is the change of variables through its monotone decoder and its
        location-scale mask (exogenous: ``N(0, 1)`` latent; ``variant="ccgm"``
        endogenous: Gaussian reconstruction of the deterministic mechanism), a
        discrete node's its cross-entropy; parents enter with their observed states.

        ``node_weights`` (batch, n), optional, multiplies every node's term of every row
        (the fit's parent balance, :mod:`dowhy_ccgm._balance`); the latent loss reads them
        from ``"node_weight"``.

        Returns ``{"nll": mean over rows, "rows": (batch,) per-row values, "z": exact
        latents (batch, n_cont), "loc": mask locations (batch, n_cont), "eps": noise
        (batch, n_cont)}`` (the last three only with continuous nodes); with
        ``node_terms`` (and ``node_weights``) also ``"node_terms"`` (batch, n), each
        node's weighted term, which sum to ``"rows"`` (the model check's per-node
        likelihood).
        """
        if node_terms and node_weights is None:
            raise ValueError("node_terms needs node_weights (ones for the plain terms)")
        T = S_obs.new_zeros(S_obs.shape[0], self.n) if node_terms else None
        S_obs, w = self.observed_factors(S_obs)
        if w is not None:          # missing cells: only the observed factors count
            u_cont = torch.nan_to_num(u_cont, nan=0.0)
            codes = codes.clamp(min=0)
            if z_init is not None:
                z_init = torch.nan_to_num(z_init, nan=0.0)
        out = self.g(S_obs, self.G, self.input_index())
        rows = S_obs.new_zeros(S_obs.shape[0])
        res = {}
        if self.cont:
            oc = out[:, self.cont_nodes]
            loc = oc[..., 0]
            s = F.softplus(oc[..., 1]) + 1e-3
            z, log_det = self.decoder.inverse_and_log_derivative(u_cont, z_init)
            exo = self.cont_exo.unsqueeze(0)
            eps = torch.where(exo, z, (z - loc) / s)
            term = 0.5 * eps * eps + log_det + torch.where(exo, torch.zeros_like(s),
                                                           torch.log(s))
            if self.has_deterministic:
                tau = torch.exp(self.log_tau.clamp(min=_MIN_LOG_TAU))[: len(self.cont)]
                r = (u_cont - self.decoder(loc)) / tau
                term = torch.where(self.cont_det.unsqueeze(0),
                                   0.5 * r * r + torch.log(tau), term)
            if self.has_atoms:
                # columns with point masses: -log P(atom k) on rows at atom k; off them
                # -log P(continuous part) plus the log of the part's truncation normaliser
                # (floors and caps) and its density
                at = self.atom_rows(u_cont)
                term = torch.where(at, torch.zeros_like(term),
                                   term + 0.5 * math.log(2 * math.pi))
                cols = []
                for i in self.cont:
                    k = self.cont_pos[i]
                    if not self.atoms[i]:
                        cols.append(term[:, k])
                        continue
                    _, _, logp, _, e_lo, e_hi = self.atom_frame(
                        i, oc[:, k], u_cont.shape[0], differentiable=True)
                    gate = atom_nll(logp, self.atom_index(i, u_cont[:, k]),
                                    log_ndtr_diff(e_lo, e_hi))
                    cols.append(term[:, k] + gate.to(term.dtype))
                term = torch.stack(cols, -1)
                res["weight"] = (~at).float()
            elif w is not None:
                term = term + 0.5 * math.log(2 * math.pi)
            if self.has_formula:       # a formula node's factor is a point mass: no term
                term = torch.where(self.cont_formula.unsqueeze(0), torch.zeros_like(term),
                                   term)
            if w is not None:          # a factor with a missing node or parent drops out
                wc = w[:, self.cont_nodes]
                term = torch.where(wc, term, torch.zeros_like(term))
                res["weight"] = wc.float() * res.get("weight", 1.0)
            if node_weights is not None:   # (each term whole: its 2 pi constant inside)
                if not (self.has_atoms or w is not None):
                    term = term + 0.5 * math.log(2 * math.pi)
                    if self.has_formula:
                        term = torch.where(self.cont_formula.unsqueeze(0),
                                           torch.zeros_like(term), term)
                wn = node_weights[:, self.cont_nodes]
                rows = rows + (term * wn).sum(-1)
                res["node_weight"] = wn
                if T is not None:
                    T[:, self.cont_nodes] = term * wn
            elif self.has_atoms or w is not None:
                rows = rows + term.sum(-1)
            else:
                rows = rows + term.sum(-1) + 0.5 * math.log(2 * math.pi) * (
                    len(self.cont) - len(self.formulas))
            res.update(z=z, loc=loc, eps=eps)
        if self.disc:
            nll = self.discrete_nll(out, codes)
            if w is not None:
                nll = torch.where(w[:, self.disc_nodes], nll, torch.zeros_like(nll))
            if node_weights is not None:
                nll = nll * node_weights[:, self.disc_nodes]
            rows = rows + nll.sum(-1)
            if T is not None:
                T[:, self.disc_nodes] = nll
        res["rows"] = rows
        if T is not None:
            res["node_terms"] = T
        res["nll"] = rows.mean()
        return res

    def losses(self, u_cont, codes, *, linear: bool = False, sample: bool = True,
               z_init: torch.Tensor | None = None) -> dict:
        """All loss terms for a minibatch (means over rows).

        ``z_init`` warm-starts the exact inversion of the decoders (objective
        "exact"); the solution is returned as ``out["z"]`` for caching."""
        S_obs = self.encode_states(u_cont, codes)
        out = {"label": self.label_loss(S_obs, u_cont, codes, linear),
               "dag": dag_penalty(self.G)}
        if linear:
            return out
        if self.objective == "exact":
            out.update(self._exact_losses(S_obs, u_cont, codes, z_init))
            return out
        mu_lv = self.encoder(S_obs)
        L = max(self.n_latent, 1)
        mu, logvar = mu_lv[:, :L], mu_lv[:, L:].clamp(-12.0, 6.0)
        lat = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        nc = len(self.cont)
        z = lat[:, :nc]
        # KL to the prior
        prior_mu = torch.zeros_like(mu)
        if self.prior == "conditional" and nc:
            prior_mu = prior_mu.clone()
            prior_mu[:, :nc] = torch.clamp(u_cont / 2.0, -1.0, 1.0)
        kl = 0.5 * ((mu - prior_mu) ** 2 + logvar.exp() - 1.0 - logvar)
        out["kl"] = kl[:, : self.n_latent].sum(-1).mean() if self.n_latent else kl.sum() * 0
        # teacher-forced causal layer: parents enter with their observed labels
        gout = self.g(S_obs, self.G)
        recon = S_obs.new_zeros(())
        latent = S_obs.new_zeros(())
        if nc:
            z_hat = []
            for i in self.cont:
                z_hat.append(self._continuous_output(i, gout[:, i], z[:, self.cont_pos[i]],
                                                     lat, sample_noise=None))
            z_hat = torch.stack(z_hat, dim=-1)
            x_hat = self.decode(z_hat)
            tau = torch.exp(self.log_tau.clamp(min=_MIN_LOG_TAU))[:nc]
            nll = 0.5 * ((u_cont - x_hat) / tau) ** 2 + torch.log(tau) + 0.5 * math.log(2 * math.pi)
            recon = recon + nll.sum(-1).mean()
            endo = [self.cont_pos[i] for i in self.cont
                    if not self.exogenous[i] or self.variant == "causalvae"]
            if endo:
                latent = ((z[:, endo] - z_hat[:, endo]) ** 2).sum(-1).mean()
        for i in self.disc:
            recon = recon + F.cross_entropy(self.disc_logits(i, gout[:, i]),
                                            codes[:, self.disc_pos[i]].long())
        out["recon"] = recon
        out["latent"] = latent
        return out

    def latent_loss(self, terms: dict) -> torch.Tensor:
        """l_z (eq. 5) from :meth:`exact_terms`'s output: the squared distance of every
        endogenous continuous node's exact latent from its mask's location (a mean over
        rows, summed over nodes)."""
        sq = (terms["z"] - terms["loc"]) ** 2
        if "node_weight" in terms:   # the parent balance weighs every row's distance
            sq = sq * terms["node_weight"]
        if "weight" in terms:    # a row at a point mass (or missing) has no latent
            w = terms["weight"]
            sq = (sq * w).sum(0) / w.sum(0).clamp(min=1.0)
            return (sq * self.cont_endo).sum()
        return (sq.mean(0) * self.cont_endo).sum()

    def _exact_losses(self, S_obs, u_cont, codes, z_init=None) -> dict:
        """Exact negative log-likelihood (:meth:`exact_terms`), plus, for the
        paper-style loop (structure learning), the encoder trained as an amortised
        abduction network and the latent loss l_z (eq. 5)."""
        t = self.exact_terms(S_obs, u_cont, codes, z_init)
        latent = S_obs.new_zeros(())
        enc = S_obs.new_zeros(())
        if self.cont:
            z = t["z"]
            latent = self.latent_loss(t)
            noisy_cols = [self.cont_pos[i] for i in self.noisy]
            target = torch.cat([z, t["eps"][:, noisy_cols]], -1).detach()
            L = max(self.n_latent, 1)
            mu = self.encoder(S_obs)[:, :L]
            enc = ((mu[:, : self.n_latent] - target) ** 2).sum(-1).mean()
        out = {"recon": t["nll"], "kl": enc, "latent": latent}
        if self.cont:
            out["z"] = t["z"].detach()
        return out

    def _continuous_output(self, i, out_i, z_i, lat, sample_noise):
        """z_hat_i of a continuous node given its mask output.

        ``lat`` holds the encoder latents (training); ``sample_noise`` (batch,)
        replaces the eps latent at generation time.
        """
        exo = self.exogenous[i]
        if self.variant != "causalvae" and exo:
            return z_i
        if i in self.noisy_pos:
            eps = sample_noise if sample_noise is not None else \
                lat[:, len(self.cont) + self.noisy_pos[i]]
            if self.variant == "causalvae":
                return out_i[:, 0] + eps
            return out_i[:, 0] + self.scale(out_i) * eps
        return out_i[:, 0]
