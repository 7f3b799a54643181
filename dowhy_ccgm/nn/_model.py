"""The CCGM network: encoder, causal layer ``A = G + B`` with nonlinear masks,
per-node decoders, losses, ancestral generation and exact abduction.

Tensor conventions (no pandas here):

* nodes are indexed ``0..n-1``; ``kinds[i]`` is ``"continuous"``, ``"binary"`` or
  ``"categorical"``;
* a *state* row is the concatenation of every node's block: a continuous node's
  block is its standardized value ``u_i = dec_i(z_hat_i)`` (1 value), a binary
  node's is ``value - 0.5``, a categorical node's is its one-hot (K values).
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

from ._layers import GatedNodeMLP, MonotoneMap, dag_penalty

VARIANTS = ("ccgm", "ccgm_noise", "causalvae")
OBJECTIVES = ("exact", "elbo")
KINDS = ("continuous", "binary", "categorical")
_MIN_LOG_TAU = math.log(0.02)


def inverse_cdf_codes(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The category of each row drawn by inverse-CDF sampling: the number of cumulative
    probabilities of ``softmax(logits)`` (batch, K) below ``u`` (batch,) in [0, 1).

    The same codes as ``(u > cumsum(softmax(logits))[:, :-1]).sum(-1)`` (up to rounding at
    a category's edge) at a fraction of the cost: torch's softmax and cumsum over a
    narrow last axis are slow on the CPU, so two categories use the sigmoid of the logit
    difference, and more work on the transposed, contiguous (K, batch) block."""
    if logits.shape[-1] == 2:
        return (u > torch.sigmoid(logits[:, 0] - logits[:, 1])).long()
    lt = logits.t().contiguous()
    c = (lt - lt.max(0).values).exp_().cumsum_(0)
    return (u * c[-1] > c[:-1]).sum(0)


class CCGMNet(nn.Module):
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
    """

    def __init__(self, kinds, n_categories, exogenous, mask, order, *, variant="ccgm_noise",
                 hidden=32, n_layers=2, encoder_hidden=64, prior="standard", objective="exact"):
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
        self.block_sizes = [k if kind == "categorical" else 1
                            for kind, k in zip(self.kinds, self.n_categories)]
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

        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.float32).clone())
        self.register_buffer("is_categorical", torch.tensor(
            [k == "categorical" for k in self.kinds], dtype=torch.bool))
        self.register_buffer("B", torch.diag(torch.tensor(self.exogenous, dtype=torch.float32)))
        self.W = nn.Parameter(torch.zeros(n, n))
        n_out = max([2] + [k for kind, k in zip(self.kinds, self.n_categories)
                           if kind == "categorical"])
        self.g = GatedNodeMLP(self.block_sizes, n_out, hidden, n_layers)   # latent masks, eq. 13
        self.f = GatedNodeMLP(self.block_sizes, n_out, hidden, n_layers)   # label masks, eq. 4
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
        # integer (lattice) continuous columns: [is_integer, mean, sd, vmin, vmax] per
        # continuous column (``set_lattice``); generation snaps them to their integers
        self.register_buffer("lattice", torch.zeros(max(len(self.cont), 1), 5))
        self._register_index_buffers()
        # aggregate posterior of exogenous latents (used by the conditional prior)
        self.register_buffer("agg_mu", torch.zeros(0, len(self.cont)))
        self.register_buffer("agg_sd", torch.ones(0, len(self.cont)))

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
        exo_pass = [self.exogenous[i] and self.variant != "causalvae" for i in self.cont]
        buf("cont_exo", exo_pass, torch.bool)
        buf("cont_det", [not e and i not in self.noisy_pos
                         for e, i in zip(exo_pass, self.cont)], torch.bool)
        buf("cont_endo", [not self.exogenous[i] for i in self.cont], torch.bool)
        self.has_deterministic = bool(any(self.cont_det.tolist()))   # no sync per step
        buf("disc_endo", [not self.exogenous[i] for i in self.disc], torch.bool)
        buf("disc_binary", [self.kinds[i] == "binary" for i in self.disc], torch.bool)
        valid = torch.zeros(len(self.disc), n_out, dtype=torch.bool)
        for r, i in enumerate(self.disc):
            valid[r, : self.n_categories[i]] = True
        self.register_buffer("disc_valid", valid, persistent=False)
        # scalar summary of every state block for the linear label model: 1 for a
        # continuous/binary block, the category embedding for a categorical one
        buf("block_of_column", [j for j, w in enumerate(self.block_sizes) for _ in range(w)],
            torch.long)

    def input_index(self):
        """``(index, valid)`` (n, P) of the state columns every node may read (its
        allowed parents' blocks under ``mask``), for :meth:`GatedNodeMLP.forward`; None
        when the graph is dense enough that the full first layer is as cheap. Cached
        until ``mask`` changes (structure learning rewrites it)."""
        key = (self.mask._version, self.mask.data_ptr())
        cached = getattr(self, "_input_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        cols = []
        mask = self.mask.detach().cpu().numpy() != 0
        for i in range(self.n):
            cols.append([c for j in range(self.n) if mask[j, i]
                         for c in range(self.offsets[j], self.offsets[j + 1])])
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
        if self.kinds[i] == "binary":
            return (code.float() - 0.5).unsqueeze(-1)
        return F.one_hot(code.long(), self.n_categories[i]).float()

    def disc_logits(self, i: int, out_i: torch.Tensor) -> torch.Tensor:
        """Mechanism output -> logits (batch, K); binary gets [0, logit]."""
        if self.kinds[i] == "binary":
            return torch.stack([torch.zeros_like(out_i[:, 0]), out_i[:, 0]], dim=-1)
        return out_i[:, : self.n_categories[i]]

    def set_lattice(self, rows) -> None:
        """``rows``: per continuous column ``(is_integer, mean, sd, vmin, vmax)`` of its
        values (standardization and range)."""
        rows = list(rows)
        if not rows:
            return
        with torch.no_grad():
            self.lattice[: len(rows)] = torch.as_tensor(rows, dtype=torch.float32)

    @property
    def has_lattice(self) -> bool:
        return bool(self.cont) and bool(self.lattice[: len(self.cont), 0].any())

    def lattice_step(self) -> torch.Tensor:
        """(n_cont,) the standardized width of one integer step (0 for float columns):
        the exact fit dequantizes integer columns with uniform noise of that width."""
        L = self.lattice[: len(self.cont)]
        return torch.where(L[:, 0] > 0, 1.0 / L[:, 2].clamp(min=1e-12), torch.zeros_like(L[:, 0]))

    def snap(self, k: int, u: torch.Tensor) -> torch.Tensor:
        """Continuous column ``k``'s standardized values on its integers (clipped to the
        training range) when it is an integer column: children then see exactly the value
        the output shows."""
        row = self.lattice[k]
        if not bool(row[0] > 0):
            return u
        x = torch.round(u * row[2] + row[1]).clamp(row[3], row[4])
        return (x - row[1]) / row[2]

    def scale(self, out_i: torch.Tensor) -> torch.Tensor:
        return F.softplus(out_i[:, 1]) + 1e-3

    def decode(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Latent of continuous nodes (batch, n_cont) -> standardized values."""
        return self.decoder(z_hat)

    def latent_of_value(self, u: torch.Tensor) -> torch.Tensor:
        """Exact inverse of the decoder: standardized values -> latents."""
        return self.decoder.inverse(u)

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
            weight = weight.index_put((torch.arange(self.offsets[int(key)],
                                                    self.offsets[int(key) + 1],
                                                    device=S_obs.device),), emb)
        SW = S_obs * weight
        V = SW.new_zeros(S_obs.shape[0], self.n).index_add(1, self.block_of_column, SW)
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
        od = out[:, self.disc_idx]
        binary = F.pad(od[..., :1], (1, self.n_out - 2))
        logits = torch.where(self.disc_binary.view(1, -1, 1), binary, od)
        logits = logits.masked_fill(~self.disc_valid.unsqueeze(0), -math.inf)
        picked = logits.gather(-1, codes.long().unsqueeze(-1)).squeeze(-1)
        return torch.logsumexp(logits, -1) - picked

    def label_loss(self, S_obs, u_cont, codes, linear: bool) -> torch.Tensor:
        """l_u (eq. 4) over non-exogenous nodes."""
        pred = self.label_predictions(S_obs, linear)
        loss = S_obs.new_zeros(())
        if self.cont:
            sq = (u_cont - pred[:, self.cont_idx, 0]) ** 2
            loss = loss + (sq.mean(0) * self.cont_endo).sum()
        if self.disc:
            loss = loss + (self.discrete_nll(pred, codes).mean(0) * self.disc_endo).sum()
        return loss

    def exact_terms(self, S_obs: torch.Tensor, u_cont: torch.Tensor, codes: torch.Tensor,
                    z_init: torch.Tensor | None = None) -> dict:
        """The exact negative log-likelihood of observed rows, all nodes at once.

        With the graph given, ``-log p(x) = sum_i -log p(x_i | pa_i)``: a continuous
        node's term is the change of variables through its monotone decoder and its
        location-scale mask (exogenous: ``N(0, 1)`` latent; ``variant="ccgm"``
        endogenous: Gaussian reconstruction of the deterministic mechanism), a
        discrete node's its cross-entropy; parents enter with their observed states.

        Returns ``{"nll": mean over rows, "rows": (batch,) per-row values, "z": exact
        latents (batch, n_cont), "loc": mask locations (batch, n_cont), "eps": noise
        (batch, n_cont)}`` (the last three only with continuous nodes).
        """
        out = self.g(S_obs, self.G, self.input_index())
        rows = S_obs.new_zeros(S_obs.shape[0])
        res = {}
        if self.cont:
            oc = out[:, self.cont_idx]
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
            rows = rows + term.sum(-1) + 0.5 * math.log(2 * math.pi) * len(self.cont)
            res.update(z=z, loc=loc, eps=eps)
        if self.disc:
            rows = rows + self.discrete_nll(out, codes).sum(-1)
        res["rows"] = rows
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
        return (((terms["z"] - terms["loc"]) ** 2).mean(0) * self.cont_endo).sum()

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

    # ------------------------------------------------------------------ generation
    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> dict:
        """Exogenous noise for ``n`` units: z (exogenous latents), eps, uniforms."""
        dev = self.mask.device
        nc = len(self.cont)
        if self.prior == "conditional" and self.agg_mu.shape[0] > 0:
            idx = torch.randint(self.agg_mu.shape[0], (n,), generator=generator, device="cpu")
            idx = idx.to(dev)
            z = self.agg_mu[idx] + self.agg_sd[idx] * torch.randn(
                n, nc, generator=generator, device="cpu").to(dev)
        else:
            z = torch.randn(n, nc, generator=generator, device="cpu").to(dev)
        eps = torch.randn(n, len(self.noisy), generator=generator, device="cpu").to(dev)
        unif = torch.rand(n, len(self.disc), generator=generator, device="cpu").to(dev)
        return {"z": z, "eps": eps, "unif": unif}

    @torch.no_grad()
    def generate(self, noise: dict, interventions: dict | None = None,
                 overrides: dict | None = None, generator: torch.Generator | None = None):
        """Ancestral pass through the causal layer.

        Parameters
        ----------
        noise : dict from ``sample_noise`` or ``abduct``.
        interventions : {node: state tensor (batch, w) or callable(natural_state) -> state}
        overrides : {(parent, child): ("const", state (w,)) | ("pool", states (P, w))}
            Edge removal: the child sees the override instead of the parent.

        Returns
        -------
        S : state rows (batch, width); continuous blocks are standardized values.
        """
        interventions = interventions or {}
        overrides = overrides or {}
        n_rows = noise["z"].shape[0] if noise["z"].numel() else (
            noise["unif"].shape[0] if noise["unif"].numel() else noise["eps"].shape[0])
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
            S[:, self.block(i)] = state
        return S

    @staticmethod
    def _overrides_by_child(overrides: dict) -> dict:
        """``{(parent, child): override}`` -> ``{child: [(parent, override), ...]}``."""
        by_child = {}
        for (j, i), ov in overrides.items():
            by_child.setdefault(i, []).append((j, ov))
        return by_child

    def _fed(self, S: torch.Tensor, items, generator: torch.Generator | None = None):
        """A copy of the state rows ``S`` in which each removed parent's block holds what
        the child is fed instead: ``("const", state)``, or ``("pool", states)`` (one pool
        row drawn per row with ``generator``)."""
        S_in = S.clone()
        for j, (mode, val) in items:
            if mode == "const":
                S_in[:, self.block(j)] = val.to(S.device)
            else:
                idx = torch.randint(val.shape[0], (S.shape[0],), generator=generator)
                S_in[:, self.block(j)] = val[idx].to(S.device)
        return S_in

    def _natural_state(self, i, S_in, G, noise):
        return self._node_state(i, S_in, G, self.node_noise(i, noise))

    def _node_state(self, i, S_in, G, noise_i):
        kind = self.noise_kind(i)
        out_i = self.g.forward_node(i, S_in, G) if kind != "latent" else None
        if self.kinds[i] == "continuous":
            eps = noise_i if kind == "normal" else None
            z_hat = self._continuous_output(i, out_i, noise_i, None, sample_noise=eps)
            k = self.cont_pos[i]
            return self.snap(k, self.decoder.forward_column(k, z_hat)).unsqueeze(-1)
        return self.disc_state(i, inverse_cdf_codes(self.disc_logits(i, out_i), noise_i))

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

    def node_noise(self, i: int, noise: dict) -> torch.Tensor | None:
        """Node ``i``'s scalar noise (batch,) out of a ``sample_noise``/``abduct`` dict
        (``None`` when the node has none)."""
        kind = self.noise_kind(i)
        if kind == "latent":
            return noise["z"][:, self.cont_pos[i]]
        if kind == "normal":
            return noise["eps"][:, self.noisy_pos[i]]
        if kind == "uniform":
            return noise["unif"][:, self.disc_pos[i]]
        return None

    @torch.no_grad()
    def evaluate_node(self, i: int, S: torch.Tensor, noise_i: torch.Tensor) -> torch.Tensor:
        """State block (batch, w_i) of node ``i`` from its parents and its own noise.

        ``S`` (batch, width) holds state rows; only node ``i``'s parents' blocks are
        read (the mask gates all others). ``noise_i`` (batch,) is of the kind
        ``noise_kind(i)`` (ignored, and may be ``None``, when the node has no noise).
        The ancestral pass of ``generate`` evaluates every node this way.
        """
        return self._node_state(i, S, self.G, noise_i)

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
        if kind is None:
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
        if kind == "latent":
            return z
        return self._noise_residual(self.g.forward_node(i, S, self.G), z)

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

    def node_codes(self, i: int, state: torch.Tensor) -> torch.Tensor:
        """A discrete node's state block (batch, w) -> its category codes (batch,): the one
        decoding of a binary (sign) or categorical (one-hot) state."""
        if self.kinds[i] == "binary":
            return (state[:, 0] > 0).long()
        return state.argmax(-1)

    def states_to_codes(self, S: torch.Tensor) -> torch.Tensor:
        codes = [self.node_codes(i, S[:, self.block(i)]) for i in self.disc]
        if not codes:
            return torch.zeros(S.shape[0], 0, dtype=torch.long, device=S.device)
        return torch.stack(codes, -1)

    # ------------------------------------------------------------------ abduction
    @torch.no_grad()
    def abduct(self, u_cont, codes, *, method: str = "exact",
               generator: torch.Generator | None = None, overrides: dict | None = None
               ) -> dict:
        """Noise that reproduces the observed rows (the abduction step).

        ``"exact"`` inverts the decoder and the masks; ``"encoder"`` takes the
        encoder's posterior mean (what CausalVAE does). ``overrides``
        ``{(parent, child): ("const", state (w,))}``: the child's mechanism sees that
        state in place of the parent (a removed edge at unit level), so that generating
        from the returned noise with the same overrides reproduces the rows.
        """
        S_obs = self.encode_states(u_cont, codes)
        nc = len(self.cont)
        B = S_obs.shape[0]
        if method == "encoder":
            mu = self.encoder(S_obs)[:, : max(self.n_latent, 1)]
            z = mu[:, :nc]
            eps = mu[:, nc: nc + len(self.noisy)]
        else:
            z = self.latent_of_value(u_cont) if nc else u_cont
            eps = torch.zeros(B, len(self.noisy), device=S_obs.device)
        gout = self.g(S_obs, self.G, self.input_index())     # (only the parents' columns)
        if overrides:
            if any(mode != "const" for mode, _ in overrides.values()):
                raise ValueError("abduction needs constant edge overrides (a removed "
                                 "edge's reference state)")
            for i, items in self._overrides_by_child(overrides).items():
                gout[:, i] = self.g.forward_node(i, self._fed(S_obs, items), self.G)
        if method == "exact":
            for i in self.noisy:
                eps[:, self.noisy_pos[i]] = self._noise_residual(gout[:, i],
                                                                 z[:, self.cont_pos[i]])
        unif = torch.zeros(B, len(self.disc), device=S_obs.device)
        for i in self.disc:
            r = torch.rand(B, generator=generator).to(S_obs.device)
            unif[:, self.disc_pos[i]] = self._posterior_uniform(
                i, gout[:, i], codes[:, self.disc_pos[i]].long(), r)
        return {"z": z, "eps": eps, "unif": unif}

    @torch.no_grad()
    def encode(self, u_cont, codes) -> torch.Tensor:
        """Encoder posterior mean (batch, n_latent)."""
        S_obs = self.encode_states(u_cont, codes)
        return self.encoder(S_obs)[:, : self.n_latent]
