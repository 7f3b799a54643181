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


def test_pipeline_set_output_fit_transform_and_grid_search():
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from dowhy_ccgm.experiments.demo import toy_scm
    data = toy_scm(400, random_state=0)
    gen = CCGMGenerator(TOY_GRAPH, epochs=2, hidden=8, random_state=0, progress_bar=False)
    pipe = Pipeline([("scale", StandardScaler()), ("ccgm", gen)]).set_output(transform="pandas")
    z = pipe.fit_transform(data)
    assert isinstance(z, pd.DataFrame) and list(z.columns[:2]) == ["z_x1", "z_x2"]
    assert z.shape == (400, 6) and np.isfinite(z.to_numpy()).all()
    # the exact latent of a root is the decoder's inverse of its value: strictly increasing
    order = np.argsort(data["x1"].to_numpy())
    assert (np.diff(z["z_x1"].to_numpy()[order]) > 0).all()
    search = GridSearchCV(pipe, {"ccgm__hidden": [4, 8]}, cv=2).fit(data)
    # the search scores each candidate by the estimator's own held-out log-likelihood:
    # the same numbers as fitting and scoring the folds by hand (a seeded, reproducible fit)
    from sklearn.base import clone
    from sklearn.model_selection import KFold
    for k, hidden in enumerate([4, 8]):
        by_hand = [clone(pipe).set_params(ccgm__hidden=hidden).fit(data.iloc[tr]).score(
            data.iloc[te]) for tr, te in KFold(2).split(data)]
        assert search.cv_results_["mean_test_score"][k] == pytest.approx(np.mean(by_hand),
                                                                        rel=1e-9)
    assert search.best_score_ == max(search.cv_results_["mean_test_score"])
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_repr_shows_the_graph_and_tags_tell_the_truth():
    from sklearn.utils import get_tags
    text = repr(CCGMGenerator(TOY_GRAPH, epochs=3))
    assert "DiGraph(4 nodes, 4 edges: 'x1'->'x3'" in text and "object at 0x" not in text
    tags = get_tags(CCGMGenerator(TOY_GRAPH))
    assert not tags.input_tags.two_d_array and not tags.input_tags.sparse
    assert tags.input_tags.string and tags.transformer_tags is not None
