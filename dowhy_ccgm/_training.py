"""The one training loop: linear pre-training of A on the labels, then the full
CCGM objective with the augmented-Lagrangian DAG schedule, minibatches, Adam and
early stopping on a validation split."""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from .nn import AugmentedLagrangian, CCGMNet


MIN_STEPS_PER_EPOCH = 16
MAX_STEPS_PER_EPOCH = 64
MAX_VALIDATION_ROWS = 20_000


def _batches(n: int, batch_size: int, generator: torch.Generator):
    """Shuffled minibatch indices for one epoch of between 16 and 64 steps.

    A small data set is passed over more than once per epoch (so "epochs" mean a
    similar amount of optimisation whatever n is), a large one is subsampled (so the
    cost of an epoch, and memory, do not grow with n)."""
    n_steps = min(max(-(-n // batch_size), MIN_STEPS_PER_EPOCH), MAX_STEPS_PER_EPOCH)
    need = n_steps * batch_size
    perms = [torch.randperm(n, generator=generator) for _ in range(-(-need // n))]
    idx = torch.cat(perms)
    for k in range(n_steps):
        yield idx[k * batch_size:(k + 1) * batch_size]


def train_ccgm(net: CCGMNet, u: torch.Tensor, codes: torch.Tensor, *, epochs: int,
               pretrain_epochs: int, batch_size: int, lr: float, kl_weight: float,
               label_weight: float, latent_weight: float, patience: int,
               validation_fraction: float, generator: torch.Generator,
               progress: bool, desc: str = "CCGM fit") -> dict:
    """Fit ``net`` in place on standardized continuous values ``u`` and codes.

    Returns a history dict (per-epoch train/validation loss, H(G), Lagrangian state).
    """
    n = u.shape[0] if u.numel() else codes.shape[0]
    dev = net.mask.device
    perm = torch.randperm(n, generator=generator)
    n_val = int(round(validation_fraction * n)) if validation_fraction > 0 else 0
    n_val = min(max(n_val, 1), n - 1) if validation_fraction > 0 else 0
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    val_idx = val_idx[:MAX_VALIDATION_ROWS]
    u_tr, c_tr = u[tr_idx].to(dev), codes[tr_idx].to(dev)
    u_va, c_va = u[val_idx].to(dev), codes[val_idx].to(dev)
    n_tr = len(tr_idx)
    bs = int(min(batch_size, n_tr))
    al = AugmentedLagrangian()
    history = {"pretrain_label": [], "train": [], "val": [], "h": [], "epochs": 0}

    # -- 1. linear pre-training of A on the labels (paper V.B)
    lin_params = [net.W, net.lin_bias, net.lin_scale, *net.cat_embed.values()]
    opt = torch.optim.Adam(lin_params, lr=max(lr, 5e-2))
    total = pretrain_epochs + epochs
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
    for _ in range(pretrain_epochs):
        tot, seen = 0.0, 0
        for b in _batches(n_tr, bs, generator):
            out = net.losses(u_tr[b], c_tr[b], linear=True)
            loss = out["label"] + al.penalty(out["dag"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(out["label"].detach()) * len(b)
            seen += len(b)
        with torch.no_grad():
            al.step(float(net.losses(u_tr[:1], c_tr[:1], linear=True)["dag"]))
        history["pretrain_label"].append(tot / max(seen, 1))
        bar.update(1)

    # -- 2. full model: nonlinear masks, VAE, DAG schedule
    opt = torch.optim.Adam(net.parameters(), lr=lr, foreach=True)
    # halve the learning rate when the validation loss stalls: large steps early, fine
    # convergence late (early stopping's patience is longer than the scheduler's)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=max(2, patience // 3), threshold=1e-4)
    best, best_state, bad = math.inf, None, 0
    # warm starts of the decoders' exact inversion, one per training row
    z_cache = None
    if net.objective == "exact" and net.cont:
        with torch.no_grad():  # in chunks: the solve's temporaries are ~25x the data
            z_cache = torch.cat([net.decoder.inverse(u_tr[k:k + 65_536])
                                 for k in range(0, n_tr, 65_536)])
    for epoch in range(epochs):
        net.train()
        tot, seen = 0.0, 0
        for b in _batches(n_tr, bs, generator):
            out = net.losses(u_tr[b], c_tr[b],
                             z_init=None if z_cache is None else z_cache[b])
            if z_cache is not None:
                z_cache[b] = out["z"]
            loss = (out["recon"] + kl_weight * out["kl"] + label_weight * out["label"]
                    + latent_weight * out["latent"] + al.penalty(out["dag"]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            tot += float(loss.detach()) * len(b)
            seen += len(b)
        net.eval()
        with torch.no_grad():
            h = float(out["dag"])
            al.step(h)
            if n_val:
                vo = net.losses(u_va, c_va, sample=False)
                val = float(vo["recon"] + vo["kl"] + latent_weight * vo["latent"])
            else:
                val = tot / seen
        sched.step(val)
        history["train"].append(tot / seen)
        history["val"].append(val)
        history["h"].append(h)
        history["epochs"] = epoch + 1
        bar.update(1)
        bar.set_postfix(val=f"{val:.3f}")
        if not np.isfinite(val):
            raise FloatingPointError(
                f"training diverged at epoch {epoch + 1} (validation loss {val}); "
                "lower lr or check the data scale")
        if best_state is None or val < best - 1e-4 * max(1.0, abs(best)):
            best, bad = val, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            bad += 1
            if patience and bad >= patience:
                break
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    history["best_val"] = best
    history["lagrangian"] = al.state_dict()

    # aggregate posterior of the latents (for the conditional prior's sampling)
    if net.prior == "conditional" and net.cont:
        with torch.no_grad():
            k = min(n_tr, 10_000)
            S = net.encode_states(u_tr[:k], c_tr[:k])
            mu_lv = net.encoder(S)
            L = max(net.n_latent, 1)
            nc = len(net.cont)
            net.agg_mu = mu_lv[:, :nc].detach().clone()
            net.agg_sd = torch.exp(0.5 * mu_lv[:, L:L + nc].clamp(-12, 6)).detach().clone()
    return history
