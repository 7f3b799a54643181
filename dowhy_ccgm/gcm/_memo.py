"""Identical star fits are trained once per process.

DoWhy refits a node's mechanism on the same rows more than once: ``gcm.distribution_change``
fits every node whose mechanism did not change on the joint old + new data twice, once in
each of its two copies of the causal model, with the same settings. A star fit is a
deterministic function of its settings (the seed included) and of its data, so the second
fit would reproduce the first exactly: :func:`remember` keeps the most recent fits, keyed by
a digest of both, and :func:`recall` hands out a deep copy (no two mechanisms share a
network). A fit whose seed is drawn (``random_state=None`` draws a new one from numpy's
global state every time) never matches another, as a refit would not either.

:func:`set_fit_memo` sets how many fits are kept (0: none); :func:`clear` empties it.
"""
from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["MAX_ENTRIES", "MAX_ROWS", "fit_key", "recall", "remember", "clear",
           "set_fit_memo"]

#: the most recent fits remembered per process (0: none)
MAX_ENTRIES = 8
#: fits on more rows than this are not remembered (bounded memory)
MAX_ROWS = 100_000
#: settings that do not change what a fit computes
_IGNORED = ("progress_bar",)

_lock = threading.Lock()
_memo: OrderedDict = OrderedDict()


def _digest_column(h, name: str, s: pd.Series) -> None:
    h.update(f"{name}\0{s.dtype}\0{len(s)}\0".encode())
    values = s.to_numpy()
    if values.dtype.kind in "biufM":
        h.update(np.ascontiguousarray(values).tobytes())
    else:            # labels: pandas' stable hash of each value (strings, objects, categories)
        h.update(pd.util.hash_pandas_object(s, index=False).to_numpy().tobytes())


def fit_key(params: dict, columns: dict) -> str | None:
    """A digest of a star fit's ``params`` and data ``columns`` (name -> Series), or None
    when the fit is not to be remembered."""
    if MAX_ENTRIES <= 0 or not columns or len(next(iter(columns.values()))) > MAX_ROWS:
        return None
    h = hashlib.blake2b(digest_size=20)
    for k in sorted(params):
        if k in _IGNORED:
            continue
        v = params[k]
        if isinstance(v, nx.DiGraph):
            v = (sorted(map(repr, v.nodes)), sorted(map(repr, v.edges)))
        elif isinstance(v, dict):
            v = sorted((repr(a), repr(b)) for a, b in v.items())
        h.update(f"{k}={v!r}\n".encode())
    for name in sorted(columns):
        _digest_column(h, name, columns[name])
    return h.hexdigest()


def recall(key: str | None):
    """``(model, history)`` of a remembered fit (deep copies), or None."""
    if key is None:
        return None
    with _lock:
        hit = _memo.get(key)
        if hit is None:
            return None
        _memo.move_to_end(key)
    return copy.deepcopy(hit)


def remember(key: str | None, model, history: dict) -> None:
    """Keep a deep copy of a fit under ``key`` (the oldest ones leave beyond
    :data:`MAX_ENTRIES`)."""
    if key is None or MAX_ENTRIES <= 0:
        return
    kept = copy.deepcopy((model, history))
    with _lock:
        _memo[key] = kept
        _memo.move_to_end(key)
        while len(_memo) > MAX_ENTRIES:
            _memo.popitem(last=False)


def clear() -> None:
    """Forget every remembered fit."""
    with _lock:
        _memo.clear()


def set_fit_memo(max_entries: int) -> int:
    """Keep the ``max_entries`` most recent star fits of the CCGM mechanisms (0: none, so
    every fit trains) and return the previous number (8 by default).

    DoWhy refits a mechanism on the same rows more than once (``gcm.distribution_change``
    fits every unchanged node on the joint old and new data in both of its copies of the
    causal model). A fit with the same settings, the same seed (an int ``random_state``)
    and the same rows (at most 100,000) as a kept one is not trained again: the mechanism
    gets a deep copy of it, which is what training would compute, bit for bit.

    >>> from dowhy_ccgm.gcm import set_fit_memo
    >>> before = set_fit_memo(0)     # every fit trains
    >>> set_fit_memo(before)
    0
    """
    global MAX_ENTRIES
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 0:
        raise ValueError(f"max_entries must be an int >= 0, got {max_entries!r}")
    with _lock:
        before, MAX_ENTRIES = MAX_ENTRIES, max_entries
        while len(_memo) > max_entries:
            _memo.popitem(last=False)
    return before
