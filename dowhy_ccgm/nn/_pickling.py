"""Fast pickling of a module tree: tensors travel as numpy arrays.

DoWhy's parallel analyses (``distribution_change``, ``intrinsic_causal_influence``,
bootstraps) send the fitted mechanisms to worker processes by pickle, once per task.
PyTorch pickles every tensor through its storage serializer, about 70 microseconds per
tensor to load; a CCGM net has some 70 of them, so a mechanism took 5 ms to unpickle and a
seven-node model 35 ms, per task (DoWhy's own mechanisms: well under 1 ms). A numpy array
pickles and loads in a few microseconds.

:class:`NumpyPickleMixin` gives a module (or any object with a ``__dict__``) a
``__getstate__``/``__setstate__`` pair that packs the whole tree below it: every
submodule becomes its class and ``__dict__``, every tensor (parameters, buffers, plain
tensor attributes, tensors inside lists, tuples and dicts) a :class:`_Packed` numpy copy
with its dtype, device and gradient flag. A tensor object that appears in several places
(an index buffer also kept as a plain attribute) is one object again after loading, as
with PyTorch's own pickling; a view of another tensor loads as a copy (a fitted net is
never trained again). A tensor numpy cannot hold (bfloat16, sparse, quantized) travels
as itself. The net, the root sampling, removed edges and insertions use it; a mechanism
of the online-shop notebook loads in 0.5 ms instead of 5.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

__all__ = ["NumpyPickleMixin"]

#: the containers searched for tensors (others travel by their own pickling)
_CONTAINERS = (dict, OrderedDict, list, tuple)
#: the pickled state's one key
_KEY = "dowhy_ccgm_packed"


class _Packed:
    """A tensor as a numpy array plus what numpy does not keep."""
    __slots__ = ("array", "dtype", "device", "parameter", "requires_grad")

    def __init__(self, t: torch.Tensor):
        self.array = t.detach().cpu().numpy()
        self.dtype = t.dtype
        self.device = str(t.device)
        self.parameter = isinstance(t, nn.Parameter)
        self.requires_grad = bool(t.requires_grad)

    def __getstate__(self):
        return (self.array, self.dtype, self.device, self.parameter, self.requires_grad)

    def __setstate__(self, state):
        self.array, self.dtype, self.device, self.parameter, self.requires_grad = state

    def unpack(self) -> torch.Tensor:
        a = self.array if self.array.flags.writeable else self.array.copy()
        t = torch.from_numpy(a).to(dtype=self.dtype)
        if self.device != "cpu":
            t = t.to(self.device)
        if self.parameter:
            return nn.Parameter(t, requires_grad=self.requires_grad)
        return t.requires_grad_(self.requires_grad) if t.is_floating_point() else t


class _PackedObject:
    """A submodule (``cls`` and its packed ``__dict__``) or a dict, list or tuple that
    holds packed tensors or modules (``cls`` and its packed items)."""
    __slots__ = ("cls", "content")

    def __init__(self, cls, content):
        self.cls, self.content = cls, content

    def __getstate__(self):
        return (self.cls, self.content)

    def __setstate__(self, state):
        self.cls, self.content = state


_MARKERS = (_Packed, _PackedObject)


def _pack(value, memo: dict):
    """``value`` with every tensor and submodule packed; a container holding neither is
    itself (``memo``: id -> packed, so that shared objects stay shared)."""
    key = id(value)
    if key in memo:
        return memo[key][0]
    if isinstance(value, torch.Tensor):
        try:
            out = _Packed(value)
        except (TypeError, RuntimeError):   # (numpy cannot hold it: it travels as itself)
            out = value
    elif isinstance(value, nn.Module):
        out = _PackedObject(type(value), None)
        memo[key] = (out, value)           # (cycles: a module reached again is this one)
        out.content = _pack_dict(value.__dict__, memo)
        return out
    elif type(value) in _CONTAINERS:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        packed = [(k, v, _pack(v, memo)) for k, v in items]
        if all(p is v for _, v, p in packed):
            out = value
        elif isinstance(value, dict):
            out = _PackedObject(type(value), [(k, p) for k, _, p in packed])
        else:
            out = _PackedObject(type(value), [p for _, _, p in packed])
    else:
        return value
    memo[key] = (out, value)               # (the original is kept alive: ids stay unique)
    return out


def _pack_dict(d: dict, memo: dict) -> dict:
    return {k: _pack(v, memo) for k, v in d.items()}


def _unpack(value, memo: dict):
    if not isinstance(value, _MARKERS):
        return value
    key = id(value)
    if key in memo:
        return memo[key]
    if isinstance(value, _Packed):
        out = value.unpack()
    elif issubclass(value.cls, nn.Module):
        out = value.cls.__new__(value.cls)
        memo[key] = out
        out.__setstate__(_unpack_dict(value.content, memo))
        return out
    elif value.cls in (dict, OrderedDict):
        out = value.cls((k, _unpack(v, memo)) for k, v in value.content)
    else:
        out = value.cls(_unpack(v, memo) for v in value.content)
    memo[key] = out
    return out


def _unpack_dict(d: dict, memo: dict) -> dict:
    return {k: _unpack(v, memo) for k, v in d.items()}


class NumpyPickleMixin:
    """Pickle this object's ``__dict__`` (a module: its whole tree) with tensors as numpy
    arrays (see the module's doc)."""

    def __getstate__(self):
        return {_KEY: _pack_dict(self.__dict__, {})}

    def __setstate__(self, state):
        if _KEY in state:
            state = _unpack_dict(state[_KEY], {})
        restore = getattr(super(), "__setstate__", None)
        if restore is not None:            # (nn.Module's fills in attributes of its own)
            restore(state)
        else:
            self.__dict__.update(state)
