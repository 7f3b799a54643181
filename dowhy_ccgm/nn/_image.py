"""Small convolutional image modules for the label-to-image experiments.

* :class:`ImageDecoder` maps the causal layer's node states (standardized labels) to a
  grayscale image (logits); it is the renderer behind the label-to-image CCGM.
* :class:`ImageEncoder` maps an image to a Gaussian posterior (CausalVAE's encoder).
* :class:`CausalVAEImage` is CausalVAE's image model: encoder ``x -> eps``, the causal
  layer ``z_i = g_i(A_i ∘ z) + eps_i`` of a trained ``CCGMNet(variant="causalvae")``
  (kept frozen: ``A`` is pre-trained on the labels) and an :class:`ImageDecoder`.

Image sizes are ``4 * 2**k`` pixels (16, 32, 64, 128): the decoder starts from 4x4 feature
maps and doubles the resolution with every transposed convolution.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["ImageDecoder", "ImageEncoder", "CausalVAEImage", "check_image_size",
           "train_image_decoder", "train_causalvae_image"]


def check_image_size(size) -> int:
    """``size`` must be ``4 * 2**k`` with ``k >= 2`` (16, 32, 64, 128, ...)."""
    try:
        size = int(size)
    except (TypeError, ValueError):
        raise ValueError(f"image size must be 16, 32, 64 or 128, got {size!r}") from None
    k = math.log2(size / 4) if size > 0 else -1
    if size < 16 or k != int(k):
        raise ValueError(f"image size must be 4 * 2**k >= 16 (16, 32, 64, 128), got {size}")
    return size


def _channels(n_steps: int, base: int) -> list:
    """Channel widths from the 4x4 maps up: base, base/2, ..., at least 8."""
    return [max(8, base >> k) for k in range(n_steps + 1)]


class ImageDecoder(nn.Module):
    """``n_in`` numbers -> ``size x size`` image logits.

    A linear layer to ``base`` feature maps of 4x4, then ``log2(size / 4)`` transposed
    convolutions (kernel 4, stride 2), each doubling the resolution; SiLU in between.
    """

    def __init__(self, n_in: int = 4, size: int = 64, base: int = 64):
        super().__init__()
        self.size = check_image_size(size)
        self.n_in = int(n_in)
        n_steps = int(round(math.log2(self.size / 4)))
        ch = _channels(n_steps, base)
        self.ch0 = ch[0]
        self.fc = nn.Sequential(nn.Linear(n_in, 128), nn.SiLU(), nn.Linear(128, ch[0] * 16))
        layers = []
        for k in range(n_steps):
            c_out = ch[k + 1] if k < n_steps - 1 else 1
            layers.append(nn.ConvTranspose2d(ch[k], c_out, 4, stride=2, padding=1))
            if k < n_steps - 1:
                layers.append(nn.SiLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """s: (batch, n_in) -> logits (batch, size, size)."""
        h = F.silu(self.fc(s)).view(-1, self.ch0, 4, 4)
        return self.deconv(h).squeeze(1)

    @torch.no_grad()
    def render(self, s: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Images in ``[0, 1]`` (white background), no gradient."""
        out = [torch.sigmoid(self(s[k:k + batch_size])) for k in range(0, s.shape[0], batch_size)]
        return torch.cat(out) if out else s.new_zeros(0, self.size, self.size)


class ImageEncoder(nn.Module):
    """``size x size`` image -> ``(mu, logvar)`` of an ``n_out``-dim Gaussian."""

    def __init__(self, n_out: int = 4, size: int = 64, base: int = 64):
        super().__init__()
        self.size = check_image_size(size)
        n_steps = int(round(math.log2(self.size / 4)))
        ch = _channels(n_steps, base)[::-1]  # small -> large channel counts
        layers = []
        c_in = 1
        for k in range(n_steps):
            layers += [nn.Conv2d(c_in, ch[k + 1] if k + 1 < len(ch) else ch[-1], 4, stride=2,
                                 padding=1), nn.SiLU()]
            c_in = ch[k + 1] if k + 1 < len(ch) else ch[-1]
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(c_in * 16, 128), nn.SiLU(), nn.Linear(128, 2 * n_out))
        self.n_out = int(n_out)

    def forward(self, x: torch.Tensor):
        """x: (batch, size, size) in [0, 1] -> mu, logvar (batch, n_out)."""
        h = self.conv(x.unsqueeze(1)).flatten(1)
        out = self.fc(h)
        return out[:, : self.n_out], out[:, self.n_out:].clamp(-12.0, 6.0)


def _bce(logits, target):
    """Binary cross-entropy summed over pixels, mean over images."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum((1, 2)).mean()


def _batches(n, batch_size, generator):
    perm = torch.randperm(n, generator=generator)
    for k in range(0, n, batch_size):
        yield perm[k:k + batch_size]


def _train_loop(module: nn.Module, params, batch_loss, n: int, *, epochs: int,
                batch_size: int, lr: float, generator, callback, clip: float | None) -> list:
    """Adam + one-cycle schedule over shuffled minibatches; ``batch_loss(idx)`` gives a
    minibatch's loss. Returns the per-epoch mean losses."""
    opt = torch.optim.Adam(params, lr=lr)
    steps = max(1, epochs * math.ceil(n / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                pct_start=0.15)
    history = []
    module.train()
    for epoch in range(epochs):
        tot = 0.0
        for b in _batches(n, batch_size, generator):
            loss = batch_loss(b)
            opt.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(b)
        history.append(tot / n)
        if callback is not None:
            callback(epoch, history[-1])
    module.eval()
    return history


def train_image_decoder(decoder: ImageDecoder, states: torch.Tensor, images: torch.Tensor, *,
                        epochs: int = 10, batch_size: int = 64, lr: float = 2e-3,
                        generator: torch.Generator | None = None, callback=None) -> list:
    """Fit ``decoder`` on (node states, images) by pixel-wise BCE; returns the epoch losses."""
    return _train_loop(decoder, list(decoder.parameters()),
                       lambda b: _bce(decoder(states[b]), images[b]), states.shape[0],
                       epochs=epochs, batch_size=batch_size, lr=lr, generator=generator,
                       callback=callback, clip=None)


class CausalVAEImage(nn.Module):
    """CausalVAE on images: ``eps ~ q(eps | x)``, ``z_i = g_i(A_i ∘ z) + eps_i``, ``x ~ dec(z)``.

    The causal layer (``A``, the masks ``g`` and the per-node monotone maps to the label
    scale) is taken from a trained ``CCGMNet(variant="causalvae")`` and frozen. Every node,
    exogenous or not, receives its own encoder-inferred ``eps_i``: that path around ``A`` is
    the leakage the CCGM paper argues against. The node states fed to the decoder are the
    layer's outputs on the standardized label scale, so ``do(node = value)`` sets a state to
    the standardized value, exactly as in the label-to-image CCGM.
    """

    def __init__(self, layer, size: int = 64, base: int = 64):
        super().__init__()
        if getattr(layer, "variant", None) != "causalvae":
            raise ValueError("CausalVAEImage needs a CCGMNet trained with variant='causalvae'")
        if layer.disc:
            raise ValueError("CausalVAEImage supports continuous nodes only")
        self.layer = copy.deepcopy(layer)
        for p in self.layer.parameters():
            p.requires_grad_(False)
        n = layer.n
        self.n = n
        self.encoder = ImageEncoder(n, size, base)
        self.decoder = ImageDecoder(n, size, base)

    def states(self, eps: torch.Tensor, interventions: dict | None = None,
               overrides: dict | None = None) -> torch.Tensor:
        """Ancestral pass of the causal layer (differentiable in ``eps``).

        interventions : {node index: state tensor (batch,) or float}
        overrides : {(parent, child): float state the child's mask sees instead of the parent}
        """
        L = self.layer
        interventions = interventions or {}
        overrides = overrides or {}
        G = L.G
        cols = [None] * self.n
        for i in L.order:
            if i in interventions:
                v = interventions[i]
                cols[i] = v if torch.is_tensor(v) else eps.new_full((eps.shape[0],), float(v))
                continue
            S = torch.stack([c if c is not None else eps.new_zeros(eps.shape[0]) for c in cols],
                            -1)
            for (j, c), v in overrides.items():
                if c == i:
                    S = S.clone()
                    S[:, j] = float(v)
            out = L.g.forward_node(i, S, G)
            z_hat = out[:, 0] + eps[:, L.noisy_pos[i]]
            cols[i] = L.decoder.forward_column(L.cont_pos[i], z_hat)
        return torch.stack(cols, -1)

    def loss(self, x, u_std, kl_weight=1.0, label_weight=1.0):
        """Negative ELBO: BCE + KL(q(eps|x) || N(0, I)) + the conditional prior's pull of
        the node states to the standardized labels (``N(u, I)`` as in CausalVAE)."""
        mu, logvar = self.encoder(x)
        eps = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        s = self.states(eps)
        recon = _bce(self.decoder(s), x)
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        align = 0.5 * ((s - u_std) ** 2).sum(-1).mean()
        parts = {"recon": float(recon.detach()), "kl": float(kl.detach()),
                 "align": float(align.detach())}
        return recon + kl_weight * kl + label_weight * align, parts

    @torch.no_grad()
    def abduct(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Posterior means of eps (the unit's noise, as CausalVAE abducts it)."""
        return torch.cat([self.encoder(x[k:k + batch_size])[0]
                          for k in range(0, x.shape[0], batch_size)])


def train_causalvae_image(model: CausalVAEImage, images: torch.Tensor, u_std: torch.Tensor, *,
                          epochs: int = 10, batch_size: int = 64, lr: float = 2e-3,
                          kl_weight: float = 1.0, label_weight: float = 1.0,
                          generator: torch.Generator | None = None, callback=None) -> list:
    """Fit the encoder and decoder of ``model`` (the causal layer stays frozen)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return _train_loop(model, params,
                       lambda b: model.loss(images[b], u_std[b], kl_weight, label_weight)[0],
                       images.shape[0], epochs=epochs, batch_size=batch_size, lr=lr,
                       generator=generator, callback=callback, clip=10.0)
