"""dowhy_ccgm: Causal Counterfactual Generative Models for the PyWhy/DoWhy and
scikit-learn ecosystem.

>>> from dowhy_ccgm import CCGMGenerator
"""
from ._generator import CCGMGenerator

__version__ = "0.1.0"
__all__ = ["CCGMGenerator", "__version__"]
