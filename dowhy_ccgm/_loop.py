"""The one training loop of the package, with its optimizer and its two schedules.

:func:`fit_loop` runs rounds of optimizer steps (a round is an epoch or a validation
check's worth of steps), validates after each, keeps the best parameters, halves the
learning rate on a plateau and stops early. What a round trains and how it validates is
the caller's :class:`Round` (the exact fit, the paper's ELBO fit and the encoder
regression each pass their own, :mod:`dowhy_ccgm._training`); early stopping
(:class:`EarlyStopping`) and the learning-rate schedule (:class:`Plateau`) are small
objects, as skorch's callbacks are. :class:`Adam` is the one optimizer.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

__all__ = ["Adam", "EarlyStopping", "Plateau", "Round", "fit_loop", "absolute_improvement",
           "relative_improvement"]


class Adam:
    """Adam (Kingma & Ba 2015) over a list of tensors with torch's ``_foreach`` ops.

    ``torch.optim`` imports ``torch._dynamo`` when the first optimizer is built (about
    1.5 s of a fresh process here); this one does not, so a first fit in a new process
    (a joblib worker, a CLI run) costs what the training costs. Same update as
    ``torch.optim.Adam`` without weight decay or amsgrad (the bias correction's square root
    is ``math.sqrt``, where torch takes ``** 0.5``: the two differ in the last bit at
    about one step in 200). ``lr`` may be changed between steps (:class:`Plateau`)."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 lr_scale=None):
        """``lr_scale``: one factor of the learning rate per tensor, a float or a tensor of
        the tensor's shape (per-element factors: several groups of parameters laid out in
        one buffer take one update)."""
        params = list(params)
        scales = [1.0] * len(params) if lr_scale is None else [
            x if isinstance(x, torch.Tensor) else float(x) for x in lr_scale]
        keep = [k for k, p in enumerate(params) if p.requires_grad or p.grad is not None]
        self.params = [params[k] for k in keep]
        self.scales = [scales[k] for k in keep]
        self.lr = float(lr)
        self.b1, self.b2 = betas
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        groups = {}
        for p, m, v, sc in zip(self.params, self.m, self.v, self.scales):
            if p.grad is not None:
                groups.setdefault(sc, []).append((p, m, v))
        if not groups:
            return
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t
        bc2 = 1.0 - self.b2 ** self.t
        for sc, triples in groups.items():
            ps, ms, vs = (list(x) for x in zip(*triples))
            gs = [p.grad for p in ps]
            torch._foreach_lerp_(ms, gs, 1.0 - self.b1)
            torch._foreach_mul_(vs, self.b2)
            torch._foreach_addcmul_(vs, gs, gs, value=1.0 - self.b2)
            denom = torch._foreach_sqrt(vs)
            torch._foreach_div_(denom, math.sqrt(bc2))
            torch._foreach_add_(denom, self.eps)
            if isinstance(sc, torch.Tensor):     # (per-element factors)
                torch._foreach_div_(denom, [sc] * len(denom))
                sc = 1.0
            torch._foreach_addcdiv_(ps, ms, denom, value=-self.lr * sc / bc1)


# ---------------------------------------------------------------------------- schedules
def absolute_improvement(tol: float) -> Callable[[float, float], bool]:
    """``value < best - tol`` (nats)."""
    return lambda value, best: value < best - tol


def relative_improvement(tol: float) -> Callable[[float, float], bool]:
    """``value < best - tol * max(1, |best|)``; any finite value improves on no best."""
    return lambda value, best: math.isinf(best) or value < best - tol * max(1.0, abs(best))


class _Watch:
    """Counts the checks since the validation value last improved.

    ``improves(value, best)`` says what an improvement is. ``best="lowest"``: ``best`` is
    the lowest value seen; ``best="improved"``: the value of the last improvement."""

    def __init__(self, improves: Callable[[float, float], bool], best: str = "lowest"):
        if best not in ("lowest", "improved"):
            raise ValueError(f"best must be 'lowest' or 'improved', got {best!r}")
        self.improves = improves
        self.rule = best
        self.best = math.inf
        self.bad = 0

    def update(self, value: float) -> bool:
        """Record one check's value; True when it improved."""
        improved = bool(self.improves(value, self.best))
        if self.rule == "lowest":
            self.best = min(self.best, value)
        elif improved:
            self.best = value
        self.bad = 0 if improved else self.bad + 1
        return improved


class EarlyStopping(_Watch):
    """Stop after ``patience`` checks without an improvement (0: never), and say which
    check's parameters to keep: the lowest value's (``best="lowest"``) or the last
    improvement's (``best="improved"``)."""

    def __init__(self, patience: int, improves, best: str = "lowest"):
        super().__init__(improves, best)
        self.patience = int(patience)

    def update(self, value: float) -> bool:
        """Record one check's value; True when its parameters are to be kept."""
        before = self.best
        improved = super().update(value)
        return improved if self.rule == "improved" else value < before

    @property
    def stop(self) -> bool:
        return bool(self.patience and self.bad >= self.patience)


class Plateau(_Watch):
    """Multiply the learning rate by ``factor`` once more than ``patience`` checks in a
    row brought no improvement (then count again), unless that changes it by no more
    than ``min_change`` (``torch.optim.lr_scheduler.ReduceLROnPlateau``'s rule)."""

    def __init__(self, patience: int, improves, best: str = "lowest", factor: float = 0.5,
                 min_change: float = 0.0):
        super().__init__(improves, best)
        self.patience = int(patience)
        self.factor = float(factor)
        self.min_change = float(min_change)

    def step(self, value: float, optimizer) -> None:
        self.update(value)
        if self.bad > self.patience:
            new = optimizer.lr * self.factor
            if optimizer.lr - new > self.min_change:
                optimizer.lr = new
            self.bad = 0


# ---------------------------------------------------------------------------- the loop
class Round:
    """What :func:`fit_loop` trains: a round of steps, its validation, and the
    parameters to keep (a base class: override all but :meth:`resume`)."""

    def train_round(self, r: int) -> float:
        """Run round ``r``'s optimizer steps; return its mean training loss."""
        raise NotImplementedError

    def validate(self, train_loss: float) -> float:
        """The validation value after a round (lower is better). May leave other
        parameters in place (e.g. their average) until :meth:`resume`."""
        raise NotImplementedError

    def record(self, history: dict, r: int, train_loss: float, value: float) -> None:
        """Write round ``r`` into ``history``."""
        raise NotImplementedError

    def diverged(self, value: float, rounds_run: int) -> str:
        """The message of a non-finite validation value after ``rounds_run`` rounds."""
        raise NotImplementedError

    def keep(self) -> None:
        """Save the validated parameters as the best."""
        raise NotImplementedError

    def resume(self) -> None:
        """Put the trained parameters back after validation (none moved: nothing)."""

    def finish(self, rounds_run: int) -> None:
        """Load the best parameters kept."""
        raise NotImplementedError


def fit_loop(task: Round, rounds: int, stopping: EarlyStopping, *, optimizer=None,
             plateau: Plateau | None = None, history: dict | None = None,
             bar=None) -> int:
    """Train ``task`` for at most ``rounds`` rounds: after each, validate, record, refuse a
    non-finite value (``FloatingPointError``), keep the parameters ``stopping`` says to
    keep, let ``plateau`` lower ``optimizer.lr``, and stop when ``stopping`` says so;
    then load the kept parameters. Returns the number of rounds run."""
    history = {} if history is None else history
    run = 0
    try:
        for r in range(rounds):
            train_loss = task.train_round(r)
            value = task.validate(train_loss)
            run = r + 1
            task.record(history, r, train_loss, value)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val=f"{value:.3f}", refresh=False)
            if not np.isfinite(value):
                raise FloatingPointError(task.diverged(value, run))
            if stopping.update(value):
                task.keep()
            task.resume()
            if plateau is not None:
                plateau.step(value, optimizer)
            if stopping.stop:
                break
    finally:
        if bar is not None:
            bar.close()
    task.finish(run)
    return run
