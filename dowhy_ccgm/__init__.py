"""dowhy_ccgm: Causal Counterfactual Generative Models for the PyWhy/DoWhy and
scikit-learn ecosystem.

>>> from dowhy_ccgm import CCGMGenerator

Submodules: ``dowhy_ccgm.nn`` (torch core), ``dowhy_ccgm.gcm`` (DoWhy mechanisms,
edge removal on fitted SCMs), ``dowhy_ccgm.ate`` (naive/IPW/AIPW and bootstrap),
``dowhy_ccgm.effects`` (ATE, effect on the treated and subgroup effects from a fitted
generator), ``dowhy_ccgm.datasets`` (mindset data, pendulum scenes),
``dowhy_ccgm.experiments``.
Torch is imported lazily, so ``dowhy_ccgm.ate`` and ``dowhy_ccgm.datasets`` stay light
(joblib workers start fast).
"""
__version__ = "0.1.0"
__all__ = ["CCGMGenerator", "__version__"]


def __getattr__(name):
    if name == "CCGMGenerator":
        from ._generator import CCGMGenerator
        return CCGMGenerator
    raise AttributeError(f"module 'dowhy_ccgm' has no attribute {name!r}")
