"""CCGM in ``dowhy.gcm``: causal mechanisms, export of a trained generator, edge removal.

>>> from dowhy import gcm
>>> from dowhy_ccgm.gcm import CCGMMechanism, assign_ccgm_mechanisms, remove_edge, to_gcm

``remove_edge`` and ``JointEmpiricalDistribution`` (roots drawn jointly) work on any DoWhy
causal model and need no torch; the CCGM names import torch on first use.
"""
from ._edges import average_causal_effect, remove_edge
from ._memo import set_fit_memo
from ._roots import JointEmpiricalDistribution, joint_empirical_roots

__all__ = ["CCGMMechanism", "CCGMDiscreteMechanism", "CCGMRootModel", "assign_ccgm_mechanisms",
           "JointEmpiricalDistribution", "joint_empirical_roots", "remove_edge",
           "average_causal_effect", "to_gcm", "set_fit_memo"]

_LAZY = {"CCGMMechanism": "._mechanism", "CCGMDiscreteMechanism": "._mechanism",
         "CCGMRootModel": "._mechanism", "assign_ccgm_mechanisms": "._mechanism",
         "to_gcm": "._export"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
