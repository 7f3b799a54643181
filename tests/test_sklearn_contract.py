"""scikit-learn's own estimator checks, those that apply to a generative model on a graph.

``CCGMGenerator.fit`` takes a DataFrame whose columns are the graph's nodes, so the checks
that fit random numpy arrays without a graph (``check_fit_check_is_fitted``,
``check_dict_unchanged``, ``check_n_features_in_after_fitting``, ...) do not apply; their
properties (fitted state, no mutation of inputs, ``n_features_in_``) are tested on
DataFrames in test_generator_api.py and test_hostile_input.py.
"""
import pytest
import sklearn.utils.estimator_checks as ec

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm._params import DEFAULTS
from dowhy_ccgm.experiments.demo import TOY_GRAPH

CHECKS = ["check_no_attributes_set_in_init", "check_parameters_default_constructible",
          "check_get_params_invariance", "check_set_params", "check_estimator_cloneable",
          "check_estimator_repr", "check_do_not_raise_errors_in_init_or_set_params",
          "check_estimator_tags_renamed", "check_valid_tag_types", "check_mixin_order",
          "check_estimators_unfitted", "check_estimator_sparse_tag"]


@pytest.mark.parametrize("check", CHECKS)
def test_sklearn_estimator_check(check):
    getattr(ec, check)("CCGMGenerator", CCGMGenerator(TOY_GRAPH, epochs=1, progress_bar=False))


def test_the_parameter_table_is_the_constructor():
    """One table of parameters: the defaults the gcm mechanisms use are the estimator's."""
    assert CCGMGenerator().get_params(deep=False) == DEFAULTS
    assert set(CCGMGenerator._parameter_constraints) == set(DEFAULTS)
