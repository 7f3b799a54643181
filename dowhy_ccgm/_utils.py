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


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run with ``n_threads`` intra-op threads (small MLPs are much faster with 1-2)."""
    old = torch.get_num_threads()
    if n_threads is None:
        n_threads = 1
    torch.set_num_threads(max(1, int(n_threads)))
    try:
        yield
    finally:
        torch.set_num_threads(old)
