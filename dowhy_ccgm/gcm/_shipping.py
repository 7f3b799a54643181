"""A fitted mechanism's model pickled once, not once per task.

DoWhy's parallel analyses (``distribution_change``, ``intrinsic_causal_influence``,
``attribute_anomalies``, bootstraps) send the whole causal model to a worker process with
every task: on the online-shop notebook's ``distribution_change``, 120 tasks times 14
mechanisms, each pickled in about 3 ms (the network's module tree packed,
:mod:`dowhy_ccgm.nn._pickling`), most of the call's time. The fitted model of a mechanism
does not change between the tasks, so its pickle is kept (:func:`packed`) and sent again as
bytes; a worker unpickles it as before. Only a mechanism trained by its own star fit is sent
this way: those exported by ``to_gcm`` share the generator's one network, which one pickle
of the causal model must keep shared.

The kept pickle is valid while a fingerprint of what it holds is unchanged: the identity of
the model objects and of every attribute of every module and model object in it, and the
shape, dtype and bytes of every parameter and buffer of its networks (so an edit of a
weight in place, or a tensor's data replaced, makes a new pickle). The fingerprint costs
a fifth to two fifths of a pickle (0.6-1.2 ms against 3 ms on the online shop).
"""
from __future__ import annotations

import hashlib
import pickle
from array import array

import torch

__all__ = ["CACHE", "packed", "unpacked"]

#: where a mechanism keeps its model's pickle and the fingerprint it was made under
CACHE = "_shipped_model"


def _fingerprint(objects) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    ids = array("Q")
    tensors = {}
    for obj in objects:
        if obj is None:
            ids.append(0)
            continue
        attrs = getattr(obj, "__dict__", {})
        ids.append(id(obj))
        ids.extend(map(id, attrs.values()))
        for net in [v for v in attrs.values() if isinstance(v, torch.nn.Module)]:
            for mod in net.modules():
                ids.append(id(mod))
                ids.extend(map(id, mod.__dict__.values()))
                for d in (mod._parameters, mod._buffers):
                    ids.extend(map(id, d.values()))
                    for t in d.values():
                        if t is not None:
                            tensors[id(t)] = t
    for t in tensors.values():
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        ids.extend(t.shape)
        h.update(str(t.dtype).encode())
        if t.numel():
            h.update(t.contiguous().numpy())
    h.update(ids.tobytes())
    return h.digest()


def packed(owner, names: tuple) -> bytes:
    """The pickle of ``owner``'s attributes ``names`` (one pickle: objects they share stay
    shared), kept on ``owner`` while their fingerprint holds."""
    objects = tuple(getattr(owner, n, None) for n in names)
    key = (names, _fingerprint(objects))
    kept = owner.__dict__.get(CACHE)
    if kept is not None and kept[0] == key:
        return kept[1]
    blob = pickle.dumps(objects, protocol=pickle.HIGHEST_PROTOCOL)
    owner.__dict__[CACHE] = (key, blob)
    return blob


def unpacked(blob: bytes) -> tuple:
    """The attributes' values of :func:`packed`'s pickle."""
    return pickle.loads(blob)
