"""The training tasks: the exact-likelihood fit given the graph (:func:`train_exact`, the
default), the paper's ELBO fit with linear pre-training and the augmented-Lagrangian DAG
schedule (:func:`train_ccgm`), and the optional encoder regression (:func:`train_encoder`).
Each is a :class:`~dowhy_ccgm._loop.Round` (its step and its validation) run by the one
loop, :func:`~dowhy_ccgm._loop.fit_loop`, with the one optimizer and the early-stopping and
plateau objects of :mod:`dowhy_ccgm._loop`. They share the validation split
(:func:`_split`) and the minibatch iterator (:func:`_passes`)."""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from ._progress import progress_bar

from ._loop import (Adam, EarlyStopping, Plateau, Round, absolute_improvement, fit_loop,
                    relative_improvement)
from ._simple import clear_simple, row_chunks, select_simple
from .nn import AugmentedLagrangian, CCGMNet
from .nn._fused import FusedExactStep, unsupported

__all__ = ["train_exact", "train_ccgm", "train_encoder", "Adam"]

MIN_STEPS_PER_EPOCH = 16
MAX_STEPS_PER_EPOCH = 64
MAX_VALIDATION_ROWS = 20_000
#: the exact fit's steps run :class:`~dowhy_ccgm.nn._fused.FusedExactStep` (hand-written
#: gradients) on the networks it covers; False: autograd on every network (the same
#: objective and, to float rounding, the same gradients)
FUSED_STEP = True


def _epoch_batches(stream, n: int, batch_size: int):
    """One epoch of the ELBO loop: between 16 and 64 minibatches taken from ``stream``
    (the shuffled passes of :func:`_passes`, the one minibatch iterator of both loops).

    A small data set is passed over more than once per epoch (so "epochs" mean a
    similar amount of optimisation whatever n is), a large one is subsampled (so the
    cost of an epoch, and memory, do not grow with n)."""
    n_steps = min(max(-(-n // batch_size), MIN_STEPS_PER_EPOCH), MAX_STEPS_PER_EPOCH)
    for _ in range(n_steps):
        yield next(stream)


class _ElboRound(Round):
    """A round of the paper's ELBO fit: one epoch of :func:`_epoch_batches` minibatches
    (clipped gradients, the augmented-Lagrangian DAG penalty), then the Lagrangian's
    update and the validation ELBO; the best parameters are a copy of the state dict."""

    def __init__(self, net, opt, stream, batch_size, train, valid, weights, al, z_cache):
        self.net, self.opt, self.stream, self.al, self.z_cache = net, opt, stream, al, z_cache
        (self.u_tr, self.c_tr), (self.u_va, self.c_va) = train, valid
        self.n_tr, self.n_va = self.c_tr.shape[0], self.c_va.shape[0]
        self.bs = batch_size
        self.kl_weight, self.label_weight, self.latent_weight = weights
        self.best_state = None
        self.h = math.nan
        self.modules = list(net.modules())

    def train_round(self, r: int) -> float:
        net, opt, z_cache = self.net, self.opt, self.z_cache
        set_training(self.modules, True)
        tot, seen = 0.0, 0
        for b in _epoch_batches(self.stream, self.n_tr, self.bs):
            out = net.losses(self.u_tr[b], self.c_tr[b],
                             z_init=None if z_cache is None else z_cache[b])
            if z_cache is not None:
                z_cache[b] = out["z"]
            loss = (out["recon"] + self.kl_weight * out["kl"]
                    + self.label_weight * out["label"] + self.latent_weight * out["latent"]
                    + self.al.penalty(out["dag"]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            tot += float(loss.detach()) * len(b)
            seen += len(b)
        self.h = float(out["dag"].detach())
        return tot / seen

    def validate(self, train_loss: float) -> float:
        net = self.net
        set_training(self.modules, False)
        with torch.no_grad():
            self.al.step(self.h)
            if self.n_va:
                vo = net.losses(self.u_va, self.c_va, sample=False)
                return float(vo["recon"] + vo["kl"] + self.latent_weight * vo["latent"])
        return train_loss

    def record(self, history, r, train_loss, value):
        history["train"].append(train_loss)
        history["val"].append(value)
        history["h"].append(self.h)
        history["epochs"] = r + 1

    def diverged(self, value, rounds_run) -> str:
        return (f"training diverged at epoch {rounds_run} (validation loss "
                f"{value}); lower lr or check the data scale")

    def keep(self):
        self.best_state = copy.deepcopy(self.net.state_dict())

    def finish(self, rounds_run):
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)


def train_ccgm(net: CCGMNet, u: torch.Tensor, codes: torch.Tensor, *, epochs: int,
               pretrain_epochs: int, batch_size: int, lr: float, kl_weight: float,
               label_weight: float, latent_weight: float, patience: int,
               validation_fraction: float, generator: torch.Generator,
               progress: bool, desc: str = "CCGM fit", groups=None) -> dict:
    """Fit ``net`` in place on standardized continuous values ``u`` and codes.

    Returns a history dict (per-epoch train/validation loss, H(G), Lagrangian state).
    """
    n = u.shape[0] if u.numel() else codes.shape[0]
    dev = net.mask.device
    val_idx, tr_idx = _split(n, validation_fraction, generator, groups)
    u_tr, c_tr = u[tr_idx].to(dev), codes[tr_idx].to(dev)
    u_va, c_va = u[val_idx].to(dev), codes[val_idx].to(dev)
    n_tr = len(tr_idx)
    bs = int(min(batch_size, n_tr))
    stream = _passes(n_tr, bs, generator, "cpu")
    al = AugmentedLagrangian()
    history = {"pretrain_label": [], "train": [], "val": [], "h": [], "epochs": 0}

    # -- 1. linear pre-training of A on the labels (paper V.B)
    lin_params = [net.W, net.lin_bias, net.lin_scale, *net.cat_embed.values()]
    opt = Adam(lin_params, lr=max(lr, 5e-2))
    total = pretrain_epochs + epochs
    bar = progress_bar(total=total, desc=desc, disable=not progress, leave=False)
    for _ in range(pretrain_epochs):
        tot, seen = 0.0, 0
        for b in _epoch_batches(stream, n_tr, bs):
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
    opt.zero_grad()

    # -- 2. full model: nonlinear masks, VAE, DAG schedule
    opt = Adam(net.parameters(), lr=lr)
    # warm starts of the decoders' exact inversion, one per training row
    z_cache = None
    if net.objective == "exact" and net.cont:
        with torch.no_grad():  # in chunks: the solve's temporaries are ~25x the data
            z_cache = torch.cat([net.decoder.inverse(u_tr[k:k + 65_536])
                                 for k in range(0, n_tr, 65_536)])
    task = _ElboRound(net, opt, stream, bs, (u_tr, c_tr), (u_va, c_va),
                      (kl_weight, label_weight, latent_weight), al, z_cache)
    stopping = EarlyStopping(patience, relative_improvement(1e-4), best="improved")
    # halve the learning rate when the validation loss stalls: large steps early, fine
    # convergence late (early stopping's patience is longer than the plateau's); the
    # threshold is torch's ReduceLROnPlateau's relative one
    plateau = Plateau(max(2, patience // 3), lambda v, best: v < best * (1.0 - 1e-4),
                      best="improved", min_change=1e-8)
    fit_loop(task, epochs, stopping, optimizer=opt, plateau=plateau, history=history,
             bar=bar)
    opt.zero_grad()
    history["best_val"] = stopping.best
    history["converged"] = stopping.stop
    history["lagrangian"] = al.state_dict()

    # aggregate posterior of the latents (for the conditional prior's sampling)
    if net.prior == "conditional" and net.cont and net.objective == "elbo":
        with torch.no_grad():
            k = min(n_tr, 10_000)
            S = net.encode_states(u_tr[:k], c_tr[:k])
            mu_lv = net.encoder(S)
            L = max(net.n_latent, 1)
            nc = len(net.cont)
            net.agg_mu = mu_lv[:, :nc].detach().clone()
            net.agg_sd = torch.exp(0.5 * mu_lv[:, L:L + nc].clamp(-12, 6)).detach().clone()
    return history


# ============================================================================ fast path
#: a validation check runs after every pass over the training rows, or after this many
#: optimizer steps when a pass is longer (large data: the check, the learning-rate
#: schedule and early stopping keep the same rhythm whatever n is)
MAX_STEPS_PER_CHECK = 100
#: Polyak averaging of the parameters over about this many checks (the averaged
#: parameters are the ones validated, kept and returned)
AVERAGE_CHECKS = 3.0
#: halve the learning rate after this many checks without improvement
LR_PATIENCE = 2
#: minibatches per round of the linear pre-training at most (64 x 2048 rows: up to
#: 131k training rows every round is a whole pass, as before)
PRETRAIN_MAX_STEPS = 64
#: rows per chunk of the decoders' full inversion (bounded temporaries)
INVERSE_CHUNK = 16_384
#: the decoders' full inversion's tolerance, relative to ``1 + |value|`` (float32 carries
#: about 6e-8): Newton steps from a warm start stop there, else bisection
INVERSE_TOL = 1e-6
#: on small data the decoders learn at this fraction of the learning rate: a fast decoder
#: absorbs structure the mechanisms should carry (measured: counterfactual RMSE on the
#: triangle SCM 0.216 at 1x, 0.171 at 0.3x, mean of 3 seeds; 0.33 at 3x); see
#: ``decoder_lr_scale`` for large data
DECODER_LR_SCALE = 0.3
DECODER_SLOW_ROWS = 4500


def decoder_lr_scale(n_train: int) -> float:
    """The decoders' learning rate relative to the masks': ``DECODER_LR_SCALE`` up to
    ``DECODER_SLOW_ROWS`` training rows, growing as the square root of the rows to 1 (large
    data need converged decoders, and give the data to pin them down)."""
    return min(1.0, DECODER_LR_SCALE * math.sqrt(max(n_train, DECODER_SLOW_ROWS)
                                                 / DECODER_SLOW_ROWS))


def set_training(modules, flag: bool) -> None:
    """``module.train(flag)`` for a list of modules and all their submodules
    (``list(net.modules())``), without the recursive walk through ``nn.Module.__setattr__``:
    a training loop switches modes twice per validation check, and on small data the walk
    cost an eighth of a fit."""
    for m in modules:
        m.__dict__["training"] = flag


def _split(n: int, validation_fraction: float, generator: torch.Generator, groups=None):
    """(validation rows, training rows) as int32 index tensors.

    ``groups`` (one integer label per row, e.g. the original row of a bootstrap resample's
    duplicates) keeps every group on one side: the validation rows are then rows the
    training never saw, so early stopping still detects over-fitting on resampled data.
    Without groups the split is a plain random permutation of the rows."""
    if groups is None or validation_fraction <= 0:
        # int32 row indices (half the memory of int64; the same permutation as int64)
        perm = torch.randperm(n, generator=generator, dtype=torch.int32)
        if validation_fraction <= 0:
            return perm[:0], perm
        n_val = min(max(int(round(validation_fraction * n)), 1), n - 1)
        return perm[:n_val][:MAX_VALIDATION_ROWS], perm[n_val:]
    labels = torch.as_tensor(np.unique(np.asarray(groups), return_inverse=True)[1].ravel())
    n_groups = int(labels.max()) + 1
    if n_groups < 2:
        return _split(n, validation_fraction, generator)
    n_val = min(max(int(round(validation_fraction * n_groups)), 1), n_groups - 1)
    held_out = torch.zeros(n_groups, dtype=torch.bool)
    held_out[torch.randperm(n_groups, generator=generator)[:n_val]] = True
    perm = torch.randperm(n, generator=generator, dtype=torch.int32)
    val = held_out[labels[perm.long()]]
    return perm[val][:MAX_VALIDATION_ROWS], perm[~val]


class _FlatParams:
    """Parameters as views of ONE flat buffer, and their gradients as views of a second.

    The exact fit updates a dozen small tensors per step; with them laid out
    contiguously, Adam, the Polyak average and the best/live snapshots are a few ops on
    whole buffers instead of a few per tensor (the same arithmetic, element by element).
    Backward accumulates into the gradient views in place (autograd adds into an
    existing ``.grad``), so zeroing is one fill; ``flat.grad`` is the gradient buffer, so
    the optimizer updates ``flat`` as one tensor. Tensors are laid out in ``groups``
    order, so group ``k`` is the ``sizes[k]`` elements after the groups before it.
    :meth:`release` gives every parameter its own storage again.
    """

    def __init__(self, groups):
        self.params = [p for group in groups for p in group]
        self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.grad = torch.zeros_like(self.flat)
        off = 0
        for p in self.params:
            k = p.numel()
            p.data = self.flat[off:off + k].view_as(p)
            p.grad = self.grad[off:off + k].view_as(p)
            off += k
        self.flat.grad = self.grad
        self.sizes = [sum(p.numel() for p in group) for group in groups]

    def zero_grad(self):
        self.grad.zero_()

    def release(self):
        for p in self.params:
            p.data = p.data.clone()
            p.grad = None


class Snapshot:
    """A copy of some tensors in preallocated storage (an in-place copy to update it;
    no deep copy of the state dict)."""

    def __init__(self, params):
        self.params = list(params)
        self.saved = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def save(self):
        torch._foreach_copy_(self.saved, [p.detach() for p in self.params])

    @torch.no_grad()
    def restore(self):
        torch._foreach_copy_([p.data for p in self.params], self.saved)


@torch.no_grad()
def _inverse_chunks(net: CCGMNet, values_of, n: int,
                    transposed: bool = False) -> torch.Tensor | None:
    """The decoders' exact inverse of ``n`` rows, ``values_of(pos)`` giving the standardized
    values of row positions ``pos``, in chunks of ``INVERSE_CHUNK`` rows (the bisection's
    temporaries are ~25x its input), written into one preallocated tensor: (n, n_cont),
    or (n_cont, n) with ``transposed`` (the fused step's feature-major warm starts)."""
    if not net.cont or n == 0:
        return None
    dev = net.mask.device
    z = torch.empty((len(net.cont), n) if transposed else (n, len(net.cont)), device=dev)
    for k in range(0, n, INVERSE_CHUNK):
        pos = torch.arange(k, min(k + INVERSE_CHUNK, n), device=dev)
        values = values_of(pos)
        if net.fit_missing:                   # (a missing cell's warm start is never read)
            values = torch.nan_to_num(values, nan=0.0)
        # Newton from the values themselves (the decoders start near the identity, so a
        # few steps reach float precision; the bisection runs only where they do not)
        zk = net.decoder.inverse(values, init=values, tol=INVERSE_TOL)
        if transposed:
            z[:, pos] = zk.T
        else:
            z[pos] = zk
    return z


class _RowView:
    """Training rows as views into one copy of the data: minibatch ``pos`` (positions
    among the training rows) -> (states, standardized values, codes); :meth:`weights`
    the rows' node weights (None without a parent balance)."""

    def __init__(self, S, codes, cont_offset, rows, node_weights=None):
        self.S, self.codes, self.cont_offset, self.index = S, codes, cont_offset, rows
        self.node_weights = node_weights

    def __len__(self):
        return len(self.index)

    def rows(self, pos):
        r = self.index.index_select(0, pos)       # (index_select: a plain row gather)
        S = self.S.index_select(0, r)
        return S, S[:, self.cont_offset], self.codes.index_select(0, r)

    def weights(self, pos):
        if self.node_weights is None:
            return None
        return self.node_weights.index_select(0, self.index.index_select(0, pos))


def exact_objective(net: CCGMNet, S, u, codes, z0=None, latent_weight: float = 0.0,
                    z_cache=None, pos=None, node_weights=None) -> torch.Tensor:
    """The exact fit's objective: mean exact NLL plus ``latent_weight`` times the latent
    loss l_z (eq. 5: the squared distance of each endogenous continuous node's exact
    latent from its mask's location), each node's terms times its ``node_weights``
    (the parent balance; None: 1). The decoders' inversion starts from ``z0``; the
    solution is written to ``z_cache`` at ``pos`` (all rows when ``pos`` is None)."""
    t = net.exact_terms(S, u, codes, z0, node_weights)
    if z_cache is not None:
        with torch.no_grad():
            if pos is None:
                z_cache.copy_(t["z"])
            else:
                z_cache[pos] = t["z"].detach()
    loss = t["nll"]
    if latent_weight and net.cont:
        loss = loss + latent_weight * net.latent_loss(t)
    return loss


@torch.no_grad()
def _chunked_objective(net, S, u, codes, z_cache, latent_weight, fused=None,
                       chunk: int = 4096, node_weights=None) -> float:
    """The objective of all rows, in row chunks (bounded memory), as a row-weighted mean
    (l_z is a mean over rows as well, so the chunks' means combine exactly); with
    ``fused`` (a :class:`FusedExactStep`) its forward pass, ``z_cache`` feature-major."""
    n = S.shape[0]
    total = 0.0
    for k in range(0, n, chunk):
        pos = torch.arange(k, min(k + chunk, n), device=S.device)
        w = None if node_weights is None else node_weights[pos]
        if fused is None:
            z0 = None if z_cache is None else z_cache[pos]
            total += float(exact_objective(net, S[pos], u[pos], codes[pos], z0,
                                           latent_weight, z_cache, pos, w)) * len(pos)
            continue
        loss, z = fused(S[pos], codes[pos], None if z_cache is None else z_cache[:, pos],
                        latent_weight, None if u is None else u[pos].T, grad=False,
                        node_weights=None if w is None else w.T)
        if z_cache is not None:
            z_cache[:, pos] = z
        total += float(loss) * len(pos)
    return total / n


def _passes(n: int, batch_size: int, generator: torch.Generator, device):
    """Minibatch row indices, one shuffled pass over ``n`` rows after another."""
    perm = torch.empty(n, dtype=torch.int32)
    while True:
        torch.randperm(n, generator=generator, out=perm)   # reuses one buffer
        rows = perm.to(device)
        for k in range(max(n // batch_size, 1)):
            yield rows[k * batch_size:(k + 1) * batch_size]


def pretrain_linear(net: CCGMNet, train: _RowView, *, epochs: int, batch_size: int,
                    lr: float, generator: torch.Generator) -> list:
    """Linear pre-training of ``A`` on the labels (paper V.B): ``epochs`` rounds of Adam
    over the linear label model (least squares for continuous children, logistic /
    softmax regression for discrete ones), each a pass over the rows or
    :data:`PRETRAIN_MAX_STEPS` minibatches, whichever is fewer (a linear model of a
    handful of weights per node has converged long before a pass over a million rows
    ends). Returns the mean loss of every round."""
    n = len(train)
    if epochs <= 0 or n == 0:
        return []
    opt = Adam([net.W, net.lin_bias, net.lin_scale, *net.cat_embed.values()], lr=max(lr, 5e-2))
    steps = max(min(n // batch_size, PRETRAIN_MAX_STEPS), 1)
    dev = net.mask.device
    batches = _passes(n, batch_size, generator, dev)
    trace = []
    for _ in range(epochs):
        tot = torch.zeros((), device=dev)
        for _ in range(steps):
            loss = net.label_loss(*train.rows(next(batches)), linear=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.detach()
        trace.append(float(tot) / steps)
    opt.zero_grad()                # no gradients left on the fitted model
    return trace


def _dequantize(net: CCGMNet, u: torch.Tensor, step_width: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
    """Uniform dequantization noise of lattice columns' values ``u`` (batch, n_cont): one
    step wide, none on rows at a point mass (an atom is a value, not a cell)."""
    shift = (torch.rand(u.shape, generator=generator).to(u.device) - 0.5) * step_width
    if net.has_atoms:
        shift = shift.masked_fill(net.atom_rows(u), 0.0)
    return shift


def train_exact(net: CCGMNet, S: torch.Tensor, codes: torch.Tensor, *, epochs: int,
                pretrain_epochs: int, batch_size: int, lr: float, patience: int,
                validation_fraction: float, generator: torch.Generator, progress: bool,
                latent_weight: float = 1.0, tol: float = 1e-3, desc: str = "CCGM fit",
                groups=None, node_weights: torch.Tensor | None = None,
                mechanisms="network", forced_mechanisms=None) -> dict:
    """Fit the parameters generation uses by the exact likelihood, given the graph.

    ``-log p(x) = sum_i -log p(x_i | pa_i)`` is evaluated for all nodes at once
    (:meth:`CCGMNet.exact_terms`) on state rows built once for the whole data set. Only
    what ``sample``, ``intervene``, ``counterfactual`` and ``remove_edge`` read is
    trained: ``A``'s DAG part, the latent masks, the decoders (and, for
    ``variant="ccgm"``, the reconstruction scale). The label masks, the KL and latent
    terms and the encoder belong to the paper's ELBO loop (``train_ccgm``).

    Schedule: ``pretrain_epochs`` passes of linear pre-training of ``A``; then Adam in
    minibatches of ``batch_size`` rows, at most ``epochs`` passes over the training rows.
    A validation check (the same objective on the held-out rows under the Polyak-averaged
    parameters) runs after every pass, or every ``MAX_STEPS_PER_CHECK`` steps for large
    data; the learning rate halves after ``LR_PATIENCE`` checks without an improvement of
    ``tol`` nats, and training stops after ``patience`` such checks, keeping the
    parameters of the best check.

    ``node_weights`` (n, n_nodes), optional, weighs every node's term of every row, in
    training and validation alike (the parent balance, :mod:`dowhy_ccgm._balance`).

    After training, ``mechanisms`` (``"auto"`` or a kind) and ``forced_mechanisms``
    ({node index: kind}) choose which continuous nodes take a simple mechanism instead of
    the network's (:func:`dowhy_ccgm._simple.select_simple`, on the same validation rows);
    the choice is ``history["mechanisms"]``.
    """
    clear_simple(net)
    n = S.shape[0]
    dev = net.mask.device
    val_idx, tr_idx = _split(n, validation_fraction, generator, groups)
    # One copy of the data for training: the state rows S (``net.encode_states``; a
    # continuous node's block IS its standardized value, so minibatches read u back out
    # of S) and the codes; minibatches index the training rows through tr_idx. The
    # validation rows (at most MAX_VALIDATION_ROWS) are copied out.
    S, codes = S.to(dev), codes.to(dev)
    tr_idx, val_idx = tr_idx.to(dev), val_idx.to(dev)
    S_va, c_va = S[val_idx], codes[val_idx]
    u_va = S_va[:, net.cont_offset]
    if node_weights is not None:
        node_weights = node_weights.to(dev)
    w_va = None if node_weights is None else node_weights[val_idx]
    # integer columns: uniform dequantization of the node's own value (its parents' view
    # stays the integer): fresh noise every step, one fixed draw for the validation rows
    step_width = net.lattice_step().to(dev) if net.has_lattice else None
    if step_width is not None:
        u_va = u_va + _dequantize(net, u_va, step_width, generator)
    n_tr, n_va = len(tr_idx), len(val_idx)
    bs = int(min(batch_size, n_tr))
    train = _RowView(S, codes, net.cont_columns, tr_idx, node_weights)
    history = {"pretrain_label": [], "train": [], "val": [], "epochs": 0,
               "checks": 0, "steps": 0}
    history["pretrain_label"] = pretrain_linear(net, train, epochs=pretrain_epochs,
                                                batch_size=bs, lr=lr, generator=generator)

    named = [(name.split(".")[0], p) for name, p in net.named_parameters()
             if name.split(".")[0] in ("W", "g", "cat_head", "cat_head_bias", "decoder",
                                       "log_tau")]
    # two learning rates: the mechanisms (W, the masks and many-level heads) and the decoders
    flat = _FlatParams([[p for top, p in named if top in ("W", "g", "cat_head",
                                                          "cat_head_bias")],
                        [p for top, p in named if top in ("decoder", "log_tau")]])
    # one Adam update of the whole buffer, the decoders' segment at its own rate
    scale = torch.ones_like(flat.flat)
    scale[flat.sizes[0]:] = decoder_lr_scale(n_tr)
    opt = Adam([flat.flat], lr=lr, lr_scale=[scale])
    steps_per_pass = max(n_tr // bs, 1)
    per_check = min(steps_per_pass, MAX_STEPS_PER_CHECK)
    max_steps = int(epochs) * steps_per_pass
    n_checks = -(-max_steps // per_check) if max_steps else 0
    # Polyak (exponential) average of the parameters over ~AVERAGE_CHECKS checks
    decay = 1.0 - 1.0 / max(5.0, AVERAGE_CHECKS * per_check)
    # warm starts of the decoders' inversion, one per row
    fused = FusedExactStep(net) if FUSED_STEP and unsupported(net) is None else None
    z_tr = _inverse_chunks(net, lambda pos: train.rows(pos)[1], n_tr,
                           transposed=fused is not None)
    z_va = _inverse_chunks(net, lambda pos: u_va[pos], n_va, transposed=fused is not None)
    task = _ExactRound(net, flat, opt, fused, train, _passes(n_tr, bs, generator, dev),
                       (S_va, u_va, c_va, w_va, z_va), z_tr, generator=generator,
                       step_width=step_width, latent_weight=latent_weight, decay=decay,
                       per_check=per_check, max_steps=max_steps,
                       steps_per_pass=steps_per_pass)
    bar = progress_bar(total=n_checks, desc=desc, disable=not progress, leave=False)
    stopping = EarlyStopping(patience, absolute_improvement(tol))
    # the learning rate halves after LR_PATIENCE checks without such an improvement
    plateau = Plateau(LR_PATIENCE - 1, absolute_improvement(tol))
    try:
        fit_loop(task, n_checks, stopping, optimizer=opt, plateau=plateau,
                 history=history, bar=bar)
    finally:
        flat.release()
    history["best_val"] = stopping.best
    history["converged"] = stopping.stop
    net.eval()
    # (its own random stream: the fit's generator is left where training left it)
    extra = torch.Generator().manual_seed(generator.initial_seed() + 1)
    noise = None if step_width is None else (
        lambda u: _dequantize(net, u, step_width, extra).to(u.device))
    S_va0, seen_va = net.observed_factors(S_va)
    history["mechanisms"] = select_simple(
        net, mechanisms, row_chunks(net, S, tr_idx, node_weights, noise),
        (S_va0, torch.nan_to_num(u_va), w_va, seen_va), forced=forced_mechanisms)
    return history


class _ExactRound(Round):
    """A validation check's worth of exact-fit steps (:func:`train_exact`): minibatches
    of the training rows (dequantized lattice values, the fused step or autograd, the
    Polyak average updated after every step), then the objective of the validation rows
    under the averaged parameters. The kept parameters are averaged ones."""

    def __init__(self, net, flat, opt, fused, train, batches, valid, z_tr, *, generator,
                 step_width, latent_weight, decay, per_check, max_steps, steps_per_pass):
        self.net, self.flat, self.opt, self.fused = net, flat, opt, fused
        self.train, self.batches, self.z_tr = train, batches, z_tr
        self.S_va, self.u_va, self.c_va, self.w_va, self.z_va = valid
        self.generator, self.step_width = generator, step_width
        self.latent_weight, self.decay = latent_weight, decay
        self.per_check, self.max_steps = per_check, max_steps
        self.steps_per_pass = steps_per_pass
        self.modules = list(net.modules())
        self.step = 0
        self.k_steps = 0
        self.average = Snapshot([flat.flat])
        self.live = Snapshot([flat.flat])
        self.best_state = Snapshot([flat.flat])

    def train_round(self, r: int) -> float:
        net, flat, fused, train, z_tr = self.net, self.flat, self.fused, self.train, self.z_tr
        set_training(self.modules, True)
        dev = flat.flat.device
        tot = torch.zeros((), device=dev)
        self.k_steps = k_steps = min(self.per_check, self.max_steps - self.step)
        for k in range(k_steps):
            pos = next(self.batches)
            S_b, u_b, c_b = train.rows(pos)
            w_b = train.weights(pos)
            shift = None
            if self.step_width is not None:
                shift = _dequantize(net, u_b, self.step_width, self.generator)
            flat.zero_grad()
            if fused is not None:        # (feature-major warm starts: z_tr is (n_cont, n))
                loss, z = fused(S_b, c_b, None if z_tr is None else z_tr[:, pos],
                                self.latent_weight,
                                None if shift is None else (u_b + shift).T,
                                node_weights=None if w_b is None else w_b.T)
                if z_tr is not None:
                    z_tr[:, pos] = z
            else:
                z0 = None if z_tr is None else z_tr.index_select(0, pos)
                u_b = u_b if shift is None else u_b + shift
                loss = exact_objective(net, S_b, u_b, c_b, z0, self.latent_weight, z_tr,
                                       pos, w_b)
                loss.backward()
            self.opt.step()
            with torch.no_grad():   # (a plain mean over the first steps: no lag behind
                # the initial values, as a bias-corrected average)
                self.average.saved[0].lerp_(flat.flat, max(1.0 - self.decay,
                                                           1.0 / (self.step + k + 1)))
            tot += loss.detach()
        self.step += k_steps
        return float(tot) / k_steps

    @torch.no_grad()
    def validate(self, train_loss: float) -> float:
        set_training(self.modules, False)
        self.live.save()
        self.average.restore()                     # validate the averaged parameters
        if not self.S_va.shape[0]:
            return train_loss
        return _chunked_objective(self.net, self.S_va, self.u_va, self.c_va, self.z_va,
                                  self.latent_weight, self.fused, node_weights=self.w_va)

    def record(self, history, r, train_loss, value):
        history["train"].append(train_loss)
        history["val"].append(value)
        history["checks"] = r + 1
        history["steps"] = self.step
        history["epochs"] = self.step / self.steps_per_pass

    def diverged(self, value, rounds_run) -> str:
        return (f"training diverged at pass {self.step / self.steps_per_pass:.1f} "
                f"(validation NLL {value}); lower learning_rate or check the data scale")

    def keep(self):
        self.best_state.save()

    def resume(self):
        self.live.restore()

    def finish(self, rounds_run: int):
        if rounds_run:
            self.best_state.restore()


def train_encoder(net: CCGMNet, S: torch.Tensor, codes: torch.Tensor, *, epochs: int,
                  batch_size: int, lr: float, generator: torch.Generator,
                  patience: int = 6, validation_fraction: float = 0.1, groups=None) -> dict:
    """Train the encoder as an amortised abduction network after an exact fit: a
    regression of the exact latents (decoder inverses and noise latents, what
    ``abduct(method="exact")`` returns) on the observed state rows ``S`` (as built for
    ``train_exact``). Returns the per-pass validation mean squared error."""
    hist = {"val_mse": []}
    if not net.cont or net.n_latent == 0:
        return hist
    dev = net.mask.device
    S, codes = S.to(dev), codes.to(dev)
    n = S.shape[0]
    parts = [net.abduct(S[k:k + 65_536][:, net.cont_offset], codes[k:k + 65_536],
                        generator=generator, cells=False) for k in range(0, n, 65_536)]
    target = torch.cat([torch.cat([p.z, p.eps], -1) for p in parts])
    val_idx, tr_idx = _split(n, validation_fraction, generator, groups)
    params = list(net.encoder.parameters())
    opt = Adam(params, lr=min(lr, 1e-2))
    bs = int(min(batch_size, len(tr_idx)))
    batches = _passes(len(tr_idx), bs, generator, dev)
    tr_idx, val_idx = tr_idx.to(dev), val_idx.to(dev)
    task = _EncoderRound(net, opt, params, S, target, batches, tr_idx,
                         val_idx if len(val_idx) else tr_idx, bs)
    fit_loop(task, int(epochs), EarlyStopping(patience, absolute_improvement(1e-4)),
             history=hist)
    return hist


class _EncoderRound(Round):
    """A pass of the encoder regression (:func:`train_encoder`) and its validation mean
    squared error."""

    def __init__(self, net, opt, params, S, target, batches, tr_idx, val_rows, bs):
        self.net, self.opt, self.S, self.target = net, opt, S, target
        self.batches, self.tr_idx, self.val_rows, self.bs = batches, tr_idx, val_rows, bs
        self.best_state = Snapshot(params)

    def _mse(self, rows) -> torch.Tensor:
        L = self.net.n_latent
        return ((self.net.encoder(self.S[rows])[:, :L] - self.target[rows]) ** 2).sum(-1).mean()

    def train_round(self, r: int) -> float:
        for _ in range(max(len(self.tr_idx) // self.bs, 1)):
            loss = self._mse(self.tr_idx[next(self.batches)])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return math.nan

    @torch.no_grad()
    def validate(self, train_loss: float) -> float:
        return float(self._mse(self.val_rows))

    def record(self, history, r, train_loss, value):
        history["val_mse"].append(value)

    def diverged(self, value, rounds_run) -> str:
        return (f"the encoder's training diverged at pass {rounds_run} (validation mean "
                f"squared error {value})")

    def keep(self):
        self.best_state.save()

    def finish(self, rounds_run: int):
        self.best_state.restore()
