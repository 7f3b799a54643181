"""The packaged Adult data: the loader's rows, columns and dtypes, the causal DAG over
exactly those columns, and the shipped file's checksum against the package README."""
import hashlib
import importlib.resources
import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm.datasets import (ADULT_GRAPH_ASSUMPTIONS, ADULT_SHA256, adult_graph,
                                 load_adult)

COLUMNS = ["age", "type_employer", "education_num", "marital", "occupation", "relationship",
           "race", "sex", "capital_gain", "capital_loss", "hr_per_week", "country", "income"]
INTEGER = ["age", "education_num", "capital_gain", "capital_loss", "hr_per_week", "income"]
STRING = ["type_employer", "marital", "occupation", "relationship", "race", "sex", "country"]


@pytest.fixture(scope="module")
def adult():
    return load_adult()


def _packaged(name):
    return importlib.resources.files("dowhy_ccgm.datasets").joinpath(name)


def test_rows_columns_dtypes(adult):
    assert adult.shape == (30_162, 13)
    assert list(adult.columns) == COLUMNS
    assert "fnlwgt" not in adult and "education" not in adult
    for c in INTEGER:
        assert adult[c].dtype == np.int64, c
    for c in STRING:
        assert pd.api.types.is_string_dtype(adult[c]) and not isinstance(
            adult[c].dtype, pd.CategoricalDtype), c
    assert not adult.isna().any().any()
    # income: >50K = 1 (7,508 rows), <=50K = 0 (22,654), as in the data's README
    assert set(adult["income"].unique()) == {0, 1}
    assert int(adult["income"].sum()) == 7_508
    assert adult["sex"].value_counts().to_dict() == {"Male": 20_380, "Female": 9_782}
    assert adult["race"].nunique() == 5 and adult["country"].nunique() == 41
    assert adult["education_num"].between(1, 16).all()


def test_capital_columns_keep_their_point_masses(adult):
    assert (adult["capital_gain"] == 0).mean() == pytest.approx(0.9159, abs=1e-3)
    assert (adult["capital_loss"] == 0).mean() == pytest.approx(0.9527, abs=1e-3)
    assert adult["capital_gain"].max() == 99_999 and (adult["capital_gain"] == 99_999).sum() > 100


def test_graph_is_a_dag_over_the_loader_columns(adult):
    g = adult_graph()
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    assert set(g.nodes) == set(adult.columns)
    roots = {n for n in g if g.in_degree(n) == 0}
    assert roots == {"sex", "race", "age", "country"}
    assert g.out_degree("income") == 0
    # the literature's edges (Zhang et al. 2017, Nabi & Shpitser 2018, Chiappa 2019)
    for edge in [("sex", "education_num"), ("sex", "marital"), ("education_num", "occupation"),
                 ("education_num", "hr_per_week"), ("education_num", "income"),
                 ("marital", "relationship"), ("marital", "occupation"),
                 ("marital", "hr_per_week"), ("marital", "income"), ("sex", "income")]:
        assert g.has_edge(*edge), edge
    # every edge belongs to a documented group, and every group's edges are in the graph
    documented = {(p, c) for parents, children, _ in ADULT_GRAPH_ASSUMPTIONS
                  for p in parents for c in children}
    assert documented == set(g.edges)
    assert g.number_of_edges() == 55
    assert adult_graph() is not g     # a fresh graph each call (callers may edit it)


def test_sha256_of_shipped_csv_matches_readme():
    raw = _packaged("data/adult.csv").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    readme = _packaged("data/README.md").read_text()
    section = readme[readme.index("## adult.csv"):]
    assert re.search(r"\b[0-9a-f]{64}\b", section).group(0) == digest == ADULT_SHA256
    assert "CC BY 4.0" in section and "10.24432/C5XW20" in section
    assert load_adult(verify_checksum=True).shape == (30_162, 13)


def test_package_data_declared_for_the_csv():
    """pyproject's package data ships data/*.csv (the Adult CSV included)."""
    import pathlib
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
        pytest.skip("tomllib needs Python 3.11")
    root = pathlib.Path(__file__).resolve().parents[1]
    cfg = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = cfg["tool"]["setuptools"]["package-data"]["dowhy_ccgm.datasets"]
    assert "data/*.csv" in patterns and "data/*.md" in patterns
