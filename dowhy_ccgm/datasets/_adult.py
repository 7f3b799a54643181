"""The UCI Adult (Census Income) data set and a causal DAG over its columns.

* :func:`load_adult` returns the packaged copy of the Adult training file (30,162 rows
  without missing values), ready for :class:`~dowhy_ccgm.CCGMGenerator`.
* :func:`adult_graph` returns the causal DAG used by ``ccgm fairness``: the graph of the
  fairness literature on Adult (Zhang, Wu and Wu 2017; Nabi and Shpitser 2018; Chiappa
  2019), completed for the columns that those papers leave out.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from ._files import read_packaged_csv

__all__ = ["load_adult", "adult_graph", "ADULT_SHA256", "ADULT_GRAPH_ASSUMPTIONS"]

#: sha256 of the packaged ``data/adult.csv``.
ADULT_SHA256 = "23959c20762e10ad3cf7af811ea355b81fff9f69debbed9a5505657f3145d8cf"

_RESOURCE = "data/adult.csv"
_N_ROWS = 30_162

#: the packaged file's columns, in order
_FILE_COLUMNS = ["age", "type_employer", "fnlwgt", "education", "education_num", "marital",
                 "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
                 "hr_per_week", "country", "income"]
_DROPPED = ["fnlwgt", "education"]
#: the loader's columns, in order
_COLUMNS = [c for c in _FILE_COLUMNS if c not in _DROPPED]
_INTEGER = ["age", "education_num", "capital_gain", "capital_loss", "hr_per_week"]
_STRING = ["type_employer", "marital", "occupation", "relationship", "race", "sex", "country"]
_INCOME_LABELS = {"<=50K": 0, ">50K": 1}

_ROOTS = ["sex", "race", "age", "country"]
_EMPLOYMENT = ["type_employer", "occupation", "hr_per_week"]

#: The edge groups of :func:`adult_graph`: ``(parents, children, assumption)``; every
#: parent of a group has an edge into every child of it.
ADULT_GRAPH_ASSUMPTIONS = [
    (_ROOTS, ["education_num"],
     "sex, race, age and country are roots (fixed at birth or exogenous) and cause the "
     "level of education (all three papers)."),
    (_ROOTS, ["marital"],
     "sex, race, age and country cause marital status (all three papers)."),
    (["marital"], ["education_num"],
     "marital status causes education, M -> L, as in Nabi and Shpitser (2018) and Chiappa "
     "(2019); the reverse direction is the main alternative, Zhang et al. put no edge."),
    (["sex", "age", "marital", "education_num", "country"], ["relationship"],
     "relationship (household role: Husband/Wife/Own-child/...) is a consequence of sex, "
     "age and marital status, plus education and country as in Zhang et al. (2017)."),
    (_ROOTS + ["education_num", "marital"], _EMPLOYMENT,
     "the employment block R = (type_employer, occupation, hr_per_week) is caused by sex, "
     "race, age, country, education and marital status (Chiappa 2019's A, C, M, L -> R; "
     "race as in Zhang et al.)."),
    (["type_employer"], ["occupation", "hr_per_week"],
     "inside R (which Chiappa leaves unordered), the employer type comes first and shapes "
     "the occupation and the hours worked..."),
    (["occupation"], ["hr_per_week"],
     "...and the occupation shapes the hours."),
    (["age", "education_num", "marital", "occupation"], ["capital_gain", "capital_loss"],
     "capital gains and losses (investment income, not in the papers' graphs) depend on "
     "age, education, marital status and occupation; sex, race and country reach them "
     "only through these (no direct edge)."),
    ([c for c in _COLUMNS if c != "income"], ["income"],
     "income (> 50K) has every other column as a parent: the direct edges from sex and "
     "race are the direct-discrimination paths; capital gains and losses are parts of "
     "income, hence causes of the label."),
]


def load_adult(*, verify_checksum: bool = False) -> pd.DataFrame:
    """Load the UCI Adult (Census Income) data set: 30,162 people, 13 columns.

    The 1994 U.S. Census extract by Barry Becker and Ronny Kohavi (Kohavi 1996), UCI
    Machine Learning Repository, doi:10.24432/C5XW20, licensed CC BY 4.0. This copy is the
    training file ``adult.data`` with the 2,399 rows that hold a missing value (``?``)
    removed. The loader drops ``fnlwgt`` (the census sampling weight, not a property of the
    person) and ``education`` (a label of ``education_num``, which it keeps).

    Parameters
    ----------
    verify_checksum : bool, default False
        Also compare the file's sha256 with :data:`ADULT_SHA256` and raise when it
        differs. Shape, column names and values are always checked.

    Returns
    -------
    pandas.DataFrame
        30,162 rows and the columns (in this order):

        - ``age`` (int64, 17..90), ``education_num`` (int64, 1..16: years-of-schooling
          code of the education level), ``hr_per_week`` (int64, 1..99).
        - ``capital_gain``, ``capital_loss`` (int64, unchanged): 91.6% and 95.3% exact
          zeros, ``capital_gain`` top-coded at 99,999 (148 rows). CCGM models these point
          masses as atoms.
        - ``type_employer`` (workclass), ``marital``, ``occupation``, ``relationship``,
          ``race``, ``sex`` (``Female`` / ``Male``), ``country``: strings (pandas' string
          dtype), the file's labels.
        - ``income`` (int64): 1 for ``>50K`` (7,508 rows), 0 for ``<=50K`` (22,654).

    Raises
    ------
    ValueError
        If the packaged file does not have the expected shape, columns or values.

    Notes
    -----
    Licence CC BY 4.0: attribute "Becker, B. and Kohavi, R. (1996). Adult [Dataset]. UCI
    Machine Learning Repository. https://doi.org/10.24432/C5XW20". Changes: rows with a
    missing value removed, a header added (the package's ``data/README.md``).

    sha256 of the packaged CSV:
    ``23959c20762e10ad3cf7af811ea355b81fff9f69debbed9a5505657f3145d8cf``.

    See :func:`adult_graph` for the causal DAG over these columns.

    References
    ----------
    .. [1] R. Kohavi, "Scaling Up the Accuracy of Naive-Bayes Classifiers: a
       Decision-Tree Hybrid", KDD 1996.

    Examples
    --------
    >>> from dowhy_ccgm.datasets import load_adult
    >>> df = load_adult()
    >>> df.shape
    (30162, 13)
    >>> int(df["income"].sum())
    7508
    """
    df = read_packaged_csv(_RESOURCE, ADULT_SHA256, verify_checksum)
    if list(df.columns) != _FILE_COLUMNS:
        raise ValueError(f"adult.csv has columns {list(df.columns)}, expected {_FILE_COLUMNS}.")
    if df.shape != (_N_ROWS, len(_FILE_COLUMNS)):
        raise ValueError(f"adult.csv has shape {df.shape}, expected ({_N_ROWS}, "
                         f"{len(_FILE_COLUMNS)}).")
    if df.isna().any().any():
        bad = [c for c in df.columns if df[c].isna().any()]
        raise ValueError(f"adult.csv has missing values in {bad}.")
    labels = set(df["income"].unique())
    if labels != set(_INCOME_LABELS):
        raise ValueError(f"adult.csv: income has the labels {sorted(labels)}, expected "
                         f"{sorted(_INCOME_LABELS)}.")
    df = df.drop(columns=_DROPPED)
    for col in _INTEGER:
        if not np.issubdtype(df[col].dtype, np.integer):
            raise ValueError(f"adult.csv: {col!r} is not an integer column.")
        df[col] = df[col].astype(np.int64)
    for col in _STRING:
        df[col] = df[col].astype(str).str.strip()
    df["income"] = df["income"].map(_INCOME_LABELS).astype(np.int64)
    return df[_COLUMNS]


def adult_graph() -> nx.DiGraph:
    """The causal DAG over :func:`load_adult`'s 13 columns used by ``ccgm fairness``.

    Based on the graph of the fairness literature on Adult: Zhang, Wu and Wu (2017, a
    graph learned from the data with domain constraints), Nabi and Shpitser (2018) and
    Chiappa (2019) (sex A; baseline covariates C = age, country; marital status M;
    education L; employment R = workclass, occupation, hours; income Y; A, C -> M, L, R,
    Y; M -> L, R, Y; L -> R, Y; R -> Y), completed for race, relationship and the capital
    columns. 55 edges, in groups (every listed parent -> every listed child):

    1. sex, race, age, country -> education_num. The four demographic columns are the
       roots (fixed at birth or exogenous); their mutual dependence is left to the data
       (no edges among them).
    2. sex, race, age, country -> marital.
    3. marital -> education_num (M -> L, Nabi and Shpitser 2018, Chiappa 2019; the
       reverse direction is the main alternative, Zhang et al. 2017 have no edge).
    4. sex, age, marital, education_num, country -> relationship (household role: a
       consequence of sex, age and marital status; education and country as in Zhang et
       al.).
    5. sex, race, age, country, education_num, marital -> type_employer, occupation,
       hr_per_week (A, C, M, L -> R).
    6. type_employer -> occupation, hr_per_week; occupation -> hr_per_week (an order
       inside R, which the papers leave unordered).
    7. age, education_num, marital, occupation -> capital_gain, capital_loss (investment
       income; sex, race and country reach it only through these).
    8. every other column -> income (the direct edges from sex and race are the direct
       discrimination paths; capital gains and losses are parts of income).

    Assumed throughout: no hidden confounding between the columns (a strong assumption
    for census data), and no edge out of income.

    Returns
    -------
    networkx.DiGraph
        A DAG whose nodes are exactly :func:`load_adult`'s columns. The groups and their
        one-line justifications are :data:`ADULT_GRAPH_ASSUMPTIONS`.

    References
    ----------
    .. [1] L. Zhang, Y. Wu and X. Wu, "A Causal Framework for Discovering and Removing
       Direct and Indirect Discrimination", IJCAI 2017.
    .. [2] R. Nabi and I. Shpitser, "Fair Inference on Outcomes", AAAI 2018.
    .. [3] S. Chiappa, "Path-Specific Counterfactual Fairness", AAAI 2019.

    Examples
    --------
    >>> from dowhy_ccgm.datasets import adult_graph
    >>> g = adult_graph()
    >>> sorted(n for n in g if g.in_degree(n) == 0)
    ['age', 'country', 'race', 'sex']
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(_COLUMNS)
    for parents, children, _ in ADULT_GRAPH_ASSUMPTIONS:
        graph.add_edges_from((p, c) for p in parents for c in children if p != c)
    return graph
