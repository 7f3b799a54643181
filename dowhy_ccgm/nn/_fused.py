"""The exact fit's training step with its gradients written out by hand.

:class:`FusedExactStep` computes the exact fit's objective (:meth:`CCGMNet.exact_terms`'s
mean NLL plus ``latent_weight`` times :meth:`CCGMNet.latent_loss`) and the gradient of
every trained parameter in one pass of batched tensor ops, without autograd. On a small
graph a step of the eager autograd version is mostly per-op dispatch (about 700 aten calls,
a third of them autograd's bookkeeping); this one needs about a third as many, and:

* it skips the masks of the exogenous continuous roots, whose outputs the likelihood never
  reads (a root's latent is its decoder inverse): half the mask work on the 4-node demo;
* it runs feature-major: activations are (node, feature, row), so every matmul has the
  rows as its long contiguous side (on one CPU core the skinny products of the last layer
  and its gradient are then 4-5x faster) and the decoders' sums over their tanh
  components are small batched matmuls instead of reductions over a short last axis.

The math is :meth:`CCGMNet.exact_terms`'s (the decoders' solve runs the same iterates as
:meth:`MonotoneMap.inverse_and_log_derivative`); values and gradients equal autograd's to
float rounding (``tests/test_fused.py`` compares both on every node kind it covers, dense
and sparse first layers, with and without warm starts).

It covers the default model: continuous roots and noisy endogenous continuous nodes
(``variant="ccgm_noise"``), nodes with point masses (:mod:`._atoms`: several atoms'
logits, and for a part with a floor or a cap the truncation's normaliser through the
decoder's inverse of both bounds, half a lattice step inside the outer atoms), binary and
categorical nodes, many-level ones included (their lookup tables and low-rank heads),
exact formula nodes (their factor leaves the objective) and data with missing cells (a
factor with a missing node or parent leaves it). :func:`unsupported` names what else a
network has (deterministic endogenous nodes, ``variant="ccgm"``); those are trained by
autograd on the same objective.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._atoms import NO_BOUND, log_ndtr_diff
from ._model import as_slice

__all__ = ["FusedExactStep", "unsupported"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

#: The decoders' gradients of ``c``, ``f`` and ``d`` (over ``e^c``) as sums of terms
#: ``factor * e^d^power * M[row, block]``, ``M`` the batch sums of
#: :meth:`FusedExactStep._decoder_grads` (rows alpha, beta, gamma and the same times z0;
#: blocks t, q, t q, q (1 - 3 t^2)): ``(gradient, row, block, power, factor)``.
_CFD_TERMS = (
    (0, 0, 0, 0, 1.0), (0, 1, 1, 1, 1.0), (0, 2, 2, 2, -2.0),      # c: f, f', f'' terms
    (1, 0, 1, 0, 1.0), (1, 1, 2, 1, -2.0), (1, 2, 3, 2, -2.0),     # f: d / d(e^d z0 + f)
    (2, 3, 1, 1, 1.0), (2, 4, 2, 2, -2.0), (2, 5, 3, 3, -2.0),     # d: z0 e^d d/df ...
    (2, 1, 1, 1, 1.0), (2, 2, 2, 2, -4.0))                         # ... + the e^d factors
_CFD_CACHE = {}


def _cfd_terms(device):
    """``(pick, power, factors)`` of :data:`_CFD_TERMS` as tensors on ``device`` (cached):
    each term's index into ``M`` viewed (n_cont, 6 * 4, K), its power of ``e^d``, and the
    (3, n_terms) matrix of the factors in their gradient's row."""
    if device not in _CFD_CACHE:
        factors = torch.zeros(3, len(_CFD_TERMS))
        for k, (g, _, _, _, factor) in enumerate(_CFD_TERMS):
            factors[g, k] = factor
        _CFD_CACHE[device] = (
            torch.tensor([row * 4 + block for _, row, block, _, _ in _CFD_TERMS]).to(device),
            torch.tensor([power for _, _, _, power, _ in _CFD_TERMS]).to(device),
            factors.to(device))
    return _CFD_CACHE[device]


def _softmax_minus_code(logits, lse, code, dim: int, scale: float):
    """The cross-entropy's gradient in its logits, ``scale * (softmax - one_hot(code))``
    along ``dim`` (``lse`` the log-sum-exp there, ``code`` the index tensor of gather)."""
    return torch.exp(logits - lse).scatter_add_(
        dim, code, torch.full(code.shape, -1.0, device=logits.device)).mul_(scale)


def unsupported(net) -> str | None:
    """Why :class:`FusedExactStep` cannot train ``net`` (None: it can)."""
    if net.objective != "exact" or net.variant == "causalvae":
        return "the objective is not the exact likelihood"
    if net.has_deterministic:
        return "deterministic endogenous nodes (variant='ccgm')"
    return None


def _select(values, device):
    """``values`` (a list of ints) as a slice when consecutive (a view), else an index."""
    return as_slice(values, torch.tensor(values, dtype=torch.long, device=device))


class FusedExactStep:
    """``step(S, codes, z0, latent_weight, u) -> (loss, z)``: the exact fit's objective on
    a minibatch and, written into every trained parameter's ``.grad``, its gradient
    (``grad=False``: the objective only, e.g. of the validation rows).

    ``S`` the state rows (batch, width) and ``codes`` the discrete nodes' codes (batch,
    n_disc), as :meth:`CCGMNet.exact_terms` takes them; feature-major: ``z0`` the
    decoders' warm starts (n_cont, batch) or None, ``u`` the continuous values (n_cont,
    batch; None: ``S``'s continuous columns; integer columns pass their dequantized
    values), and the returned ``z`` the decoders' exact inverse (n_cont, batch), the next
    warm starts.
    Every trained parameter's ``.grad`` must exist; the step assigns the entries it has a
    gradient for (zero the rest first). The network's mask must not change while a step
    object is in use (it reads the allowed inputs once)."""

    def __init__(self, net):
        reason = unsupported(net)
        if reason is not None:
            raise ValueError(f"FusedExactStep cannot train this network: {reason}")
        self.net = net
        dev = net.mask.device
        cont_endo = [i for i in net.cont if not net.exogenous[i]]
        atoms = [i for i in net.cont if net.atoms[i]]
        # the nodes whose mask outputs the likelihood reads: every node but the
        # exogenous continuous roots without a point mass
        active = sorted(set(cont_endo) | set(atoms) | set(net.disc))
        where = {i: k for k, i in enumerate(active)}
        self.m = m = len(active)
        self.act = _select(active, dev)
        self.endo_act = _select([where[i] for i in cont_endo], dev)
        self.endo_col = _select([net.cont_pos[i] for i in cont_endo], dev)
        self.n_endo = len(cont_endo)
        self.disc_act = _select([where[i] for i in net.disc], dev)
        # many-level categorical nodes: (active position, discrete position, head, bias)
        self.heads = [(where[i], net.disc_pos[i], net.cat_head[str(i)],
                       net.cat_head_bias[str(i)]) for i in net.wide]
        self.narrow = torch.tensor([float(i not in net.wide) for i in net.disc],
                                   device=dev).view(-1, 1)
        self.all_endo = len(cont_endo) == len(net.cont)
        # columns with point masses (:mod:`._atoms`): their nodes' atom logits (mask
        # outputs 2 .. 2 + K), their columns, each column's atom values (padded with NaN,
        # never equal to a value), and the columns whose continuous part is truncated (a
        # floor, a cap) with the values of its bounds (half a lattice step inside the
        # outer atoms)
        self.atoms = None
        if atoms:
            nc = len(net.cont)
            K = [int(net.atom[net.cont_pos[i], 0]) for i in atoms]
            k_max = max(K)
            values = torch.full((nc, k_max), math.nan, device=dev)
            bounds = torch.zeros(nc, 2, device=dev)
            for i, k in zip(atoms, K):
                c = net.cont_pos[i]
                values[c, :k] = net.atom_values[c, :k]
                bounds[c] = net.atom_bound_values(i)
            floor = [net.cont_pos[i] for i in atoms if net.atom_lower(i)]
            cap = [net.cont_pos[i] for i in atoms if net.atom_cap(i)]
            trunc = sorted(set(floor) | set(cap))
            self.atoms = dict(
                act=_select([where[i] for i in atoms], dev),
                col=_select([net.cont_pos[i] for i in atoms], dev), k_max=k_max,
                pad=(torch.arange(k_max, device=dev) >= torch.tensor(K, device=dev)
                     .unsqueeze(-1)).unsqueeze(-1),                      # (n_atoms, K, 1)
                values=values.unsqueeze(-1),                             # (nc, K, 1)
                trunc=_select(trunc, dev) if trunc else None, bounds=bounds,
                floor=torch.tensor([c in floor for c in trunc], device=dev).view(-1, 1),
                cap=torch.tensor([c in cap for c in trunc], device=dev).view(-1, 1))
        self.cont_endo = net.cont_endo.float().unsqueeze(-1)              # (n_cont, 1)
        # exact formula nodes: their factor is a point mass given the parents (no term)
        self.formula = ((~net.cont_formula).float().unsqueeze(-1) if net.has_formula
                        else None)                                       # (n_cont, 1)
        # plain lists (indexing an nn.ParameterList builds a module every time)
        self.weights, self.biases = list(net.g.weights), list(net.g.biases)
        # the first layer's inputs: every active node reads the state columns of its
        # allowed parents (sparse: ``index``, padded, ``valid`` 0 on the padding) or all
        # columns (dense); its gate on column c is G[parent of c, node], one entry of W
        # times mask (``gate_index`` into W flattened, ``gate_mask`` = mask * valid)
        inputs = net.input_index() if m else None
        act_idx = torch.tensor(active, dtype=torch.long, device=dev)
        self.index = None
        if not m:                    # (only continuous roots: no mask is read)
            return
        if inputs is not None:
            self.index = inputs[0][act_idx]                               # (m, P)
            valid = inputs[1][act_idx]
            H = self.weights[0].shape[-1]
            self.index3 = self.index.unsqueeze(-1).expand(-1, -1, H)
            cols = self.index
        else:
            cols = torch.arange(net.width, device=dev).expand(m, -1)
            valid = torch.ones(m, net.width, device=dev)
        block = net.g.block_index
        self.gate_index = (block[cols] * net.n + act_idx.unsqueeze(-1)).reshape(-1)
        # (a lookup column, a many-level parent's code, enters through its table instead)
        self.gate_mask = net.mask.reshape(-1)[self.gate_index].view(m, -1) * valid \
            * net.g.dense_col[cols]
        self.gate_shape = (m, cols.shape[1])
        # lookup tables: (table, state column, gate index into W (m,), gate mask (m,))
        self.tables = []
        for T, c in zip(net.g.tables, net.g.lookup_cols):
            gi = block[c] * net.n + act_idx
            self.tables.append((T, c, gi, net.mask.reshape(-1)[gi]))

    # ------------------------------------------------------------------ decoder solve
    @staticmethod
    def _value_and_slope(z, ex):
        """``(f(z), f'(z), t, 1 - t^2)`` of the decoders at ``z`` (n_cont, batch), with
        ``t = tanh(e^d z + f)`` (n_cont, K, batch); ``ex`` from :meth:`_exps`."""
        a, f, e_b, e_c, e_d, ec_ed = ex
        t = torch.tanh(torch.addcmul(f, e_d, z.unsqueeze(1)))
        q = 1 - t * t
        return (torch.baddbmm(torch.addcmul(a, e_b, z).unsqueeze(1), e_c, t).squeeze(1),
                torch.baddbmm(e_b.unsqueeze(1), ec_ed, q).squeeze(1), t, q)

    @staticmethod
    def _exps(dec):
        """The decoders' parameters shaped for feature-major rows: ``a`` (n_cont, 1),
        ``f`` and ``e^d`` (n_cont, K, 1), ``e^b`` (n_cont, 1), ``e^c`` and ``e^c e^d``
        (n_cont, 1, K)."""
        e_c, e_d = torch.exp(dec.c), torch.exp(dec.d)
        return (dec.a.unsqueeze(-1), dec.f.unsqueeze(-1), torch.exp(dec.b).unsqueeze(-1),
                e_c.unsqueeze(1), e_d.unsqueeze(-1), (e_c * e_d).unsqueeze(1))

    def _solve(self, y, init, ex, tol: float = 1e-3):
        """The solve's point ``z0`` (n_cont, batch) and the decoder terms there, exact to a
        residual of ``tol * (1 + |y|)``. From a warm start: one Newton step, and where
        any row still misses ``tol``, :meth:`MonotoneMap.inverse`'s safeguarded solve from
        the next Newton iterate (its remaining warm steps inside the guaranteed bracket,
        then bisection). These are the iterates of
        :meth:`MonotoneMap.inverse_and_log_derivative` except where its bracket clips a
        step or the warm start itself meets ``tol`` (then this takes the Newton step
        anyway); both stop inside the same tolerance."""
        dec = self.net.decoder
        if init is None:
            z0 = dec.inverse(y.T, tol=tol).T
            return z0, self._value_and_slope(z0, ex)
        f, d = self._value_and_slope(init, ex)[:2]
        z0 = init - (f - y) / d
        terms = self._value_and_slope(z0, ex)
        r = terms[0] - y
        if bool((r.abs() <= tol * (1 + y.abs())).all()):
            return z0, terms
        z0 = dec.inverse(y.T, init=(z0 - r / terms[1]).T, tol=tol,
                         warm_steps=dec.WARM_STEPS - 2).T
        return z0, self._value_and_slope(z0, ex)

    # ------------------------------------------------------------------ the step
    # inference mode, not just no_grad: no version counters or autograd dispatch on any
    # op (about 16% of the step's per-op cost on the 4-node demo); what it writes into
    # the caller's tensors (gradients, warm starts) are in-place writes into normal tensors
    @torch.inference_mode()
    def __call__(self, S, codes, z0=None, latent_weight: float = 1.0, u=None,
                 grad: bool = True, node_weights=None):
        net = self.net
        B, width = S.shape
        inv_B = 1.0 / B
        # the parent balance: every node's terms times its weight on the row (n, B)
        wc = wd = None
        if node_weights is not None:
            wc, wd = node_weights[net.cont_nodes], node_weights[net.disc_nodes]
        # missing cells: a factor with a missing node or parent leaves the objective
        # (:meth:`CCGMNet.observed_factors`); its cells read as 0
        obs_c = obs_d = None
        if net.fit_missing:
            S, seen = net.observed_factors(S)
            seen = seen.T.float()                                         # (n, B)
            obs_c, obs_d = seen[net.cont_nodes], seen[net.disc_nodes]
            codes = codes.clamp(min=0)
            if u is not None:
                u = torch.nan_to_num(u, nan=0.0)
            if z0 is not None:
                z0 = torch.nan_to_num(z0, nan=0.0)
            wd = obs_d if wd is None else wd * obs_d
        ST = S.T.contiguous()                                             # (width, B)
        rows = S.new_zeros(B)
        a, m = self.act, self.m
        # ---- forward: the masks of the active nodes, (m, features, B)
        if m:
            weights = [w[a] for w in self.weights]
            biases = [b[a].unsqueeze(-1) for b in self.biases]
            W0 = weights[0]
            H = W0.shape[-1]
            gate = torch.take(net.W, self.gate_index).view(self.gate_shape) * self.gate_mask
            if self.index is not None:               # sparse first layer: parents only
                XT = ST[self.index]                                       # (m, P, B)
                Wp = W0.gather(1, self.index3)                            # (m, P, H)
                h = torch.baddbmm(biases[0], (Wp * gate.unsqueeze(-1)).transpose(1, 2), XT)
            else:
                W0T = W0.transpose(1, 2)                                  # (m, H, width)
                V = W0T * gate.unsqueeze(1)
                h = torch.addmm(biases[0].reshape(-1, 1), V.reshape(m * H, width), ST) \
                    .view(m, H, B)
            looked = []
            for T, c, gi, gm in self.tables:         # many-level parents: a row per code
                code = S[:, c].round().long().clamp(0, T.shape[1] - 1)
                g_t = (torch.take(net.W, gi) * gm).view(-1, 1, 1)
                rows_t = T[a][:, code]                                    # (m, B, H)
                h = h + g_t * rows_t.transpose(1, 2)
                looked.append((T, code, rows_t, g_t, gi, gm))
            pre, post = [h], []
            for W, b in zip(weights[1:], biases[1:]):
                post.append(F.silu(h))
                h = torch.baddbmm(b, W.transpose(1, 2), post[-1])
                pre.append(h)
            out = h                                                       # (m, n_out, B)
            dout = torch.zeros_like(out) if grad else None
        # ---- continuous nodes: change of variables through the decoders, (n_cont, B)
        nc = len(net.cont)
        if nc:
            dec = net.decoder
            if u is None:
                u = ST[net.cont_columns]
            ex = self._exps(dec)
            z0, (f0, d0, t, q) = self._solve(u, z0, ex)
            tq = t * q
            d2 = torch.bmm(-2.0 * ex[5] * ex[4].transpose(1, 2), tq).squeeze(1)   # f''(z0)
            delta = (u - f0) / d0                    # the polishing Newton step
            z = z0 + delta
            r2 = d2 / d0
            log_det = torch.addcmul(torch.log(d0), r2, delta)
            if self.n_endo:
                o0, o1 = out[self.endo_act, 0], out[self.endo_act, 1]     # (n_endo, B)
                s_e = F.softplus(o1) + 1e-3
            if self.all_endo:
                loc, s = o0, s_e
            else:                    # roots: location 0, scale 1 (eps is their latent)
                loc, s = torch.zeros_like(u), torch.ones_like(u)
                if self.n_endo:
                    loc[self.endo_col] = o0
                    s[self.endo_col] = s_e
            eps = (z - loc) / s
            term = 0.5 * eps * eps + log_det + torch.log(s)
            diff = z - loc
            A = self.atoms
            off = off_w = None       # (off: rows with a density; off_w: times the weights)
            if A is not None or obs_c is not None or self.formula is not None:
                off = obs_c if obs_c is not None else torch.ones_like(u)
                if A is not None:    # rows at a point mass: no density, no latent
                    hit = u.unsqueeze(1) == A["values"]                    # (nc, K, B)
                    at = hit.any(1)
                    index = torch.where(at, hit.byte().argmax(1), -1)    # (nc, B)
                    off = off * (~at).float()
                off_w = off if wc is None else off * wc
                if self.formula is not None:     # a formula node's factor: no term
                    off_w = off_w * self.formula
                rows = rows + ((term + _HALF_LOG_2PI) * off_w).sum(0)
                n_off = off.sum(1, keepdim=True).clamp(min=1.0)
                if latent_weight:
                    sq = diff * diff * (off if wc is None else off * wc)
                    latent = (sq.sum(1, keepdim=True) / n_off * self.cont_endo).sum()
            elif wc is None:
                rows = rows + term.sum(0) + _HALF_LOG_2PI * nc
                if latent_weight:
                    latent = ((diff * diff).mean(1, keepdim=True) * self.cont_endo).sum()
            else:                    # (weighted rows)
                rows = rows + ((term + _HALF_LOG_2PI) * wc).sum(0)
                if latent_weight:
                    latent = ((diff * diff * wc).mean(1, keepdim=True) * self.cont_endo).sum()
            g_loc = g_s = None
            if grad:                 # ---- backward of the continuous terms
                # d loss / d log-slope, per row
                per = wc if off is None else off_w
                g_log = inv_B if per is None else per * inv_B
                g_eps = eps / s * g_log                          # d(eps^2 / 2) / dz
                if latent_weight:
                    per_row = inv_B if off is None else off / n_off
                    if wc is not None:
                        per_row = per_row * wc
                    g_eps = g_eps + 2.0 * latent_weight * diff * self.cont_endo * per_row
                g_loc = -g_eps
                g_s = (1 - eps * eps) / s * g_log
                dz = g_eps + r2 * g_log                          # (log_det's expansion)
            w0_grad = None
            if A is not None:
                w_obs = obs_c if wc is None else (wc if obs_c is None else wc * obs_c)
                atom_rows, w0_grad = self._atom_terms(A, dec, ex, out, index, off, loc, s,
                                                      grad, inv_B, dout, g_loc, g_s, w_obs)
                rows = rows + atom_rows
            if grad:
                if self.n_endo:                                  # -> loc, the scale's logit
                    dout[self.endo_act, 0] = g_loc[self.endo_col]
                    dout[self.endo_act, 1] = g_s[self.endo_col] * torch.sigmoid(o1)
                self._decoder_grads(dec, dz, g_log, z0, delta, d0, d2, t, q, tq, ex)
                if w0_grad is not None:
                    self._atom_decoder_grads(dec, ex, *w0_grad)
        # ---- discrete nodes: cross-entropy, (n_disc, n_out, B)
        if net.disc:
            od = out[self.disc_act]
            n_out = od.shape[1]
            is_bin = net.disc_binary.view(-1, 1, 1)
            logits = torch.where(is_bin, F.pad(od[:, :1], (0, 0, 1, n_out - 2)), od)
            logits = logits.masked_fill(~net.disc_valid.unsqueeze(-1), -math.inf)
            codes_t = codes.T.long()
            c = codes_t.clamp(max=n_out - 1).unsqueeze(1)                 # (n_disc, 1, B)
            lse = torch.logsumexp(logits, 1, keepdim=True)
            nll = (lse - logits.gather(1, c)).squeeze(1)
            if wd is not None:
                nll = nll * wd
            rows = rows + (nll * self.narrow if self.heads else nll).sum(0)
            if grad:                 # softmax minus the one-hot code
                d_logits = _softmax_minus_code(
                    logits, lse, c, 1, inv_B if wd is None else (wd * inv_B).unsqueeze(1))
                dout[self.disc_act] = torch.where(
                    is_bin, F.pad(d_logits[:, 1:2], (0, 0, 0, n_out - 1)), d_logits)
            for p, r, head, bias in self.heads:      # many-level nodes: the low-rank heads
                o = out[p, :head.shape[0]]                                # (rank, B)
                logit = torch.addmm(bias.unsqueeze(-1), head.T, o)        # (K, B)
                code = codes_t[r].unsqueeze(0)
                lse_w = torch.logsumexp(logit, 0, keepdim=True)
                w_r = 1.0 if wd is None else wd[r]
                rows = rows + (lse_w - logit.gather(0, code)).squeeze(0) * w_r
                if grad:
                    d = _softmax_minus_code(logit, lse_w, code, 0, inv_B * w_r)
                    head.grad.copy_(o @ d.T)
                    bias.grad.copy_(d.sum(1))
                    dout[p] = 0.0
                    dout[p, :head.shape[0]] = head @ d
        loss = rows.mean()
        if nc and latent_weight:
            loss = loss + latent_weight * latent
        # ---- backward through the masks
        if m and grad:
            dh = dout
            for layer in range(len(weights) - 1, 0, -1):
                W, g_w = weights[layer], self.weights[layer].grad
                if W.shape[-1] < 8:          # (skinny: the product with rows inner is faster)
                    g_w[a] = torch.bmm(dh, post[layer - 1].transpose(1, 2)).transpose(1, 2)
                else:
                    g_w[a] = torch.bmm(post[layer - 1], dh.transpose(1, 2))
                self.biases[layer].grad[a] = dh.sum(2)
                dh = torch.ops.aten.silu_backward(torch.bmm(W, dh), pre[layer - 1])
            self.biases[0].grad[a] = dh.sum(2)
            if self.index is not None:
                gV = torch.bmm(XT, dh.transpose(1, 2))                    # (m, P, H)
                self.weights[0].grad[a] = torch.zeros_like(W0).scatter_add_(
                    1, self.index3, gV * gate.unsqueeze(-1))
                d_gate = (gV * Wp).sum(-1)
            else:
                gV = (dh.reshape(m * H, B) @ S).view(m, H, width)
                self.weights[0].grad[a] = (gV * gate.unsqueeze(1)).transpose(1, 2)
                d_gate = (gV * W0T).sum(1)
            net.W.grad.view(-1).index_add_(0, self.gate_index,
                                           (d_gate * self.gate_mask).view(-1))
            for T, code, rows_t, g_t, gi, gm in looked:
                dhT = dh.transpose(1, 2)                                  # (m, B, H)
                T.grad[a] = torch.zeros_like(T[a]).index_add_(1, code, dhT * g_t)
                net.W.grad.view(-1).index_add_(0, gi, (dhT * rows_t).sum((1, 2)) * gm)
        return loss, (z if nc else None)

    def _atom_terms(self, A, dec, ex, out, index, off, loc, s, grad, inv_B, dout, g_loc,
                    g_s, wc=None):
        """The point masses' terms of every row (:func:`._atoms.atom_nll`): ``-log P(atom
        k)`` on rows at atom ``k``, ``-log P(continuous part)`` off them, from the nodes'
        logits (``softmax([0, l_1, ..., l_K])``), and for a part with a floor or a cap its
        truncation's normaliser ``log (Phi(e_hi) - Phi(e_lo))`` off the atoms, ``e = (w -
        loc) / s`` with ``w`` the decoder's inverse of the bound's value. With ``grad``,
        their gradients go to the logits (``dout``) and to ``loc`` and ``s`` (``g_loc``,
        ``g_s``, in place). ``index`` (n_cont, B): the atom each row sits at (-1: none).
        Returns the rows' terms and, for :meth:`_atom_decoder_grads`, the gradient in the
        bounds' latents with the decoder terms there (None without ``grad`` or a bound).
        ``wc`` (n_cont, B): the parent balance's weights (None: 1)."""
        K = A["k_max"]
        logit = out[A["act"], 2:2 + K].masked_fill(A["pad"], -math.inf)  # (n_atoms, K, B)
        full = torch.cat([torch.zeros_like(logit[:, :1]), logit], 1)     # (n_atoms, K+1, B)
        lse = torch.logsumexp(full, 1, keepdim=True)
        cls = (index[A["col"]] + 1).unsqueeze(1)                          # 0: the part
        w_a = 1.0 if wc is None else wc[A["col"]]
        rows = ((lse - full.gather(1, cls)).squeeze(1) * w_a).sum(0)
        if grad:                     # softmax minus the class's one-hot, atoms' columns
            d = _softmax_minus_code(full, lse, cls, 1,
                                    inv_B if wc is None else (w_a * inv_B).unsqueeze(1))
            dout[A["act"], 2:2 + K] = d[:, 1:]
        L = A["trunc"]
        if L is None:
            return rows, None
        # the bounds' latents: the implicit-function inverse (a Newton step off the solve),
        # the solve warm-started from the last step's (the decoders move little per step)
        y = A["bounds"]                                                   # (nc, 2)
        last = A.get("z_bounds")
        zs = dec.inverse(y.T, init=None if last is None else last.T, tol=1e-3).T
        A["z_bounds"] = zs
        f_s, d_s, t_s, q_s = self._value_and_slope(zs, ex)
        w = zs - (f_s - y) / d_s
        loc_l, s_l = loc[L], s[L]
        e_lo = torch.where(A["floor"], (w[L, 0:1] - loc_l) / s_l, -NO_BOUND)
        e_hi = torch.where(A["cap"], (w[L, 1:2] - loc_l) / s_l, NO_BOUND)
        off_l = off[L] if wc is None else off[L] * wc[L]
        # (selected, not masked by a product: a row at a point mass may have no mass
        # between its bounds, log Z = -inf, and it has no such term)
        has = off[L] > 0
        log_z = torch.where(has, log_ndtr_diff(e_lo, e_hi), 0.0)          # (n_trunc, B)
        rows = rows + (log_z * off_l).sum(0)
        if grad:   # d log Z / d e_hi = phi(e_hi) / Z, d / d e_lo = -phi(e_lo) / Z
            scale = off_l * inv_B
            g_lo = torch.where(has & A["floor"], -scale * torch.exp(
                -0.5 * e_lo * e_lo - _HALF_LOG_2PI - log_z), 0.0)
            g_hi = torch.where(has & A["cap"], scale * torch.exp(
                -0.5 * e_hi * e_hi - _HALF_LOG_2PI - log_z), 0.0)
            g_loc[L] -= (g_lo + g_hi) / s_l
            g_s[L] -= (g_lo * e_lo + g_hi * e_hi) / s_l
            g_w = torch.zeros_like(zs)
            g_w[L] = torch.stack([(g_lo / s_l).sum(1), (g_hi / s_l).sum(1)], 1)
            return rows, (g_w, zs, d_s, t_s, q_s)
        return rows, None

    @staticmethod
    def _atom_decoder_grads(dec, ex, g_w, zs, d_s, t_s, q_s):
        """Adds the decoders' gradients through each bound's latent ``w = z* - (f(z*) -
        y) / f'(z*)`` (the slope held fixed): ``-dw / f'(z*)`` on ``f(z*)``. ``g_w``,
        ``zs``, ``d_s`` (n_cont, 2), ``t_s``, ``q_s`` (n_cont, K, 2): the terms at the
        bounds ``z*`` from :meth:`_value_and_slope`."""
        alpha = -g_w / d_s                                                # (nc, 2)
        e_b, e_c, e_d = ex[2].squeeze(-1), ex[3].squeeze(1), ex[4].squeeze(-1)
        al = alpha.unsqueeze(1)                                           # (nc, 1, 2)
        dec.a.grad.add_(alpha.sum(1))
        dec.b.grad.add_(e_b * (alpha * zs).sum(1))
        dec.c.grad.add_(e_c * (al * t_s).sum(-1))
        dec.f.grad.add_(e_c * (al * q_s).sum(-1))
        dec.d.grad.add_(e_c * e_d * (al * q_s * zs.unsqueeze(1)).sum(-1))

    @staticmethod
    def _decoder_grads(dec, dz, g_log, z0, delta, d0, d2, t, q, tq, ex):
        """The decoders' parameter gradients. ``z = z0 - (f(z0) - y) / f'(z0)`` (the
        slope held fixed: the implicit-function gradient) receives ``dz``; ``log f'(z0) +
        f''(z0) / f'(z0) (z - z0)`` receives ``g_log`` (d loss / d log slope, per row).

        With ``alpha, beta, gamma`` the loss's coefficients on ``f(z0), f'(z0), f''(z0)``
        and, per component, ``t = tanh(e^d z0 + f)``, ``q = 1 - t^2``::

            f  = a + e^b z0 + sum e^c t        df/dc = e^c t, df/df = e^c q
            f' = e^b + sum e^c e^d q           (and d/dd = z0 e^d d/df + the e^d factors)
            f''= -2 sum e^c e^d^2 t q

        Every batch sum is one entry of a single batched matmul: the six coefficient
        rows ``alpha, beta, gamma`` and the same times ``z0`` against the four feature
        blocks ``t, q, t q, q (1 - 3 t^2)``; each of ``c``, ``f``, ``d`` then combines a
        few of those sums with powers of ``e^d`` (:data:`_CFD_TERMS`)."""
        e_b, e_c, e_d = ex[2].squeeze(-1), ex[3].squeeze(1), ex[4].squeeze(-1)
        alpha = -dz / d0                                   # on f(z0)
        beta = g_log * (1 / d0 - delta * d2 / (d0 * d0))   # on f'(z0)
        gamma = g_log * delta / d0                         # on f''(z0)
        C = torch.stack([alpha, beta, gamma], 1)           # (nc, 3, B)
        C = torch.cat([C, C * z0.unsqueeze(1)], 1)         # (nc, 6, B)
        feats = torch.cat([t, q, tq, q * (3 * q - 2)], 1)  # (nc, 4K, B)
        M = torch.bmm(C, feats.transpose(1, 2))            # (nc, 6, 4K): the batch sums
        nc, K = t.shape[0], t.shape[1]
        sums = C.sum(-1)                                   # (nc, 6)
        dec.a.grad.copy_(sums[:, 0])
        dec.b.grad.copy_(e_b * (sums[:, 3] + sums[:, 1]))
        # c, f, d: sums of factor * e^d^power * M[row, block] (_CFD_TERMS), times e^c
        e_d2 = e_d * e_d
        powers = torch.stack([torch.ones_like(e_d), e_d, e_d2, e_d2 * e_d], 1)   # (nc, 4, K)
        pick, power, factors = _cfd_terms(M.device)
        terms = M.view(nc, 24, K)[:, pick] * powers[:, power]                  # (nc, 11, K)
        cfd = torch.matmul(factors, terms) * e_c.unsqueeze(1)                  # (nc, 3, K)
        dec.c.grad.copy_(cfd[:, 0])
        dec.f.grad.copy_(cfd[:, 1])
        dec.d.grad.copy_(cfd[:, 2])
