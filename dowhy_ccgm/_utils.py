"""Small shared helpers: seeding, progress bars, devices, torch threads."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from sklearn.utils import check_random_state

from ._progress import progress_bar, show_progress

__all__ = ["progress_bar", "show_progress", "seed_from", "torch_generator", "resolve_device",
           "torch_threads"]


def seed_from(random_state) -> int:
    """An int seed from None / int / RandomState (None draws from numpy's global state,
    so ``np.random.seed`` and DoWhy's ``set_random_seed`` carry through)."""
    if random_state is None:
        return int(np.random.randint(0, 2**31 - 1))
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def torch_generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def resolve_device(device) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but torch sees no CUDA device")
    return torch.device(device)


#: rows x nodes of one training step or generated chunk from which a second intra-op
#: thread pays (measured on 2 cores: a 4-node fit at 100k rows, batch 2048, 1.1-1.5x
#: faster with 2 threads; 100 nodes at 10k rows, batch 562, 1.4-1.6x; a 4-node fit at
#: 10k rows, batch 562, and at 2k rows no faster or slower)
THREAD_WORK = 8192


def auto_threads(work: int) -> int:
    """The intra-op threads for a step of ``work`` rows x nodes: 1 below
    :data:`THREAD_WORK`, else 2, never more than torch's own setting
    (``torch.set_num_threads`` or ``OMP_NUM_THREADS`` limit it). Results do not depend on
    it: the net's operations split over rows, not within a sum."""
    return max(1, min(torch.get_num_threads(), 2 if work >= THREAD_WORK else 1))


@contextlib.contextmanager
def torch_threads(n_threads, work: int = 0):
    """Run with ``n_threads`` intra-op threads (small MLPs are much faster with 1-2);
    ``None``: :func:`auto_threads` of ``work`` (rows x nodes per step)."""
    old = torch.get_num_threads()
    if n_threads is None:
        n_threads = auto_threads(work)
    torch.set_num_threads(max(1, int(n_threads)))
    try:
        yield
    finally:
        torch.set_num_threads(old)
