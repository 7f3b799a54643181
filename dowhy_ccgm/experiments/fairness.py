"""``ccgm fairness``: fair synthetic data on the Adult data, DECAF's protocol.

Protocol (van Breugel et al. 2021, "DECAF: Generating Fair Synthetic Data Using
Causally-Aware Generative Networks", NeurIPS): the real Adult data
(:func:`dowhy_ccgm.datasets.load_adult`, protected attribute ``sex``) are split into
train and test rows (seeded, stratified by ``income``, 80/20). A CCGM is fitted on the
train rows with the literature's DAG (:func:`dowhy_ccgm.datasets.adult_graph`). Every row
of the table is a training set of the train rows' size; a downstream classifier (fixed
seed, the same for every row) is trained on it and tested on the held-out REAL rows.

Rows (``method``):

``real data``
    the real train rows.
``real data, sex not an input``
    the same, the classifier without the ``sex`` column: fairness through unawareness.
``CCGM``
    ``gen.sample(n)``.
``CCGM fair: no path from sex``
    ``fair_sample(gen, "sex", n, allowed=[])``: ``sex`` keeps its values, every other
    column sees the reference value ``Male`` (the most frequent) along every path.
``CCGM path-specific: sex via education``
    ``fair_sample`` with the allowed paths = every path that leaves ``sex`` through
    ``education_num`` (``sex -> education_num -> ...``): education acts as a *resolving*
    variable (Kilbertus et al. 2017), income differences explained by the different
    education of women and men are accepted; the direct edge ``sex -> income`` and the
    paths through marital status, relationship, employer type, occupation and hours are
    removed.
``CCGM fair + fair-world test inputs``
    the classifier of ``CCGM fair``, but each test row is first mapped into the fair world
    (its own counterfactual with sex's influence removed on every path,
    ``gen.path_specific({"sex": "Male"}, [], X=row)``): the prediction of a
    counterfactually fair pipeline (the data-side analogue of Kusner et al.'s Level 3).
``CCGM fair + fair-world test inputs, roots transported``
    as the previous row, and each test row's other roots (``age``, ``race``, ``country``:
    associated with ``sex`` in the data, not caused by it in the graph) are first moved to
    the same rank among the men of the train rows
    (:class:`~dowhy_ccgm.fairness.AssociationTransport`): demographic parity's part that
    no path removal reaches.
``DoWhy GCM (auto)``
    a peer generator: ``gcm.auto.assign_causal_mechanisms`` + ``gcm.fit`` on the train
    rows (income as a boolean so that it stays binary; a stratified subsample of at most
    ``gcm_rows`` of them, for time), ``gcm.draw_samples(scm, n)``.

Columns, on the real test rows (mean and sd over the seeds):

``precision``, ``recall``
    of the predicted labels (probability >= 0.5). The fair-world rows' predictor is
    randomized (a unit's fair-world counterpart is a posterior draw, ``n_draws`` of them):
    its label-based metrics (precision, recall, ``dp``, ``ftu``) are expectations over the
    draws, from each unit's mean label. Thresholding the draws' mean probability instead
    (``dp_mean_score_thresholded``, kept in the per-seed records) treats the groups
    unequally: a unit of the reference group is its own fair-world counterpart in every
    draw, a unit of the other group is not, so averaging pulls only the latter's scores
    towards the middle.
``auroc``
    of the predicted probabilities (DECAF's code scores the labels instead).
``auroc_cost``
    the real-data row's AUROC minus this row's, per seed (positive: utility lost).
``dp``
    demographic parity: the difference of the predicted positive rate between the sexes
    (:func:`dowhy_ccgm.fairness.demographic_parity`). The issue's target for the fair
    data: at most 0.02.
``ftu``
    DECAF's fairness-through-unawareness measure: the difference of the predicted positive
    rate when every test row's ``sex`` input is set to Female vs to Male (0 when the
    classifier does not read ``sex``; for the fair-world row the flipped ``sex`` also
    changes the abduction of the unit's noise, so it is not the classifier's direct use).
``cf_unfairness``
    :func:`dowhy_ccgm.fairness.counterfactual_fairness` of the classifier on the test rows,
    ``.unfairness`` (mean absolute change of the predicted probability under each unit's
    own counterfactual of ``sex``), with the CCGM fitted on the real train rows as the
    causal model for every row.
``data_dp``
    the training set's own gap: ``P(income = 1 | Male) - P(income = 1 | Female)``.

The downstream classifier reads the 12 other columns, ``sex`` included (as in DECAF, so
that FTU measures its use of ``sex``); the ``sex not an input`` row drops it.
``HistGradientBoostingClassifier`` (default; categorical columns native) or
``MLPClassifier`` (DECAF's choice; one-hot + standardised numbers), fixed seeds.

DECAF's published Adult numbers are not put beside the table: no source that could be
cited and read here gave them (see :data:`DECAF_PUBLISHED`).
"""
from __future__ import annotations

import contextlib
import os
import time

import networkx as nx
import numpy as np
import pandas as pd

from ._mindset_base import experiment_progress, named_seeds

PROTECTED = "sex"
LABEL = "income"
#: the value of ``sex`` that the fair rows' other columns see (the most frequent one)
REFERENCE = "Male"
#: the mediator whose paths the path-specific row keeps
RESOLVING = "education_num"
#: the issue's target: the fully fair data's demographic-parity difference
DP_TARGET = 0.02
#: DECAF's published Adult table: not available (no citable source could be read)
DECAF_PUBLISHED = None

REAL, UNAWARE = "real data", "real data, sex not an input"
CCGM, FAIR, PATH = "CCGM", "CCGM fair: no path from sex", "CCGM path-specific: sex via education"
FAIR_WORLD, GCM = "CCGM fair + fair-world test inputs", "DoWhy GCM (auto)"
FAIR_WORLD_T = "CCGM fair + fair-world test inputs, roots transported"
#: the rows in table order, with their source
ROWS = [(REAL, "real data"), (UNAWARE, "real data"), (CCGM, "CCGM"), (FAIR, "CCGM"),
        (PATH, "CCGM"), (FAIR_WORLD, "CCGM"), (FAIR_WORLD_T, "CCGM"), (GCM, "DoWhy GCM")]
METRICS = ["precision", "recall", "auroc", "auroc_cost", "dp", "ftu", "cf_unfairness",
           "data_dp"]

#: run settings (default run / --quick). ``gcm_rows``: the DoWhy GCM is fitted on a
#: stratified subsample of at most this many train rows (None: all), for time: its
#: automatic assignment and fit took 65 s on 4,800 rows on one core (CCGM: 4 s there, about
#: 50 s on all 24,000 train rows); it still draws as many rows as the train set has.
SETTINGS = {
    "full": {"n_seeds": 3, "epochs": 200, "n_rows": None, "test_size": 0.2,
             "gcm_rows": 6000},
    "quick": {"n_seeds": 1, "epochs": 15, "n_rows": 6000, "test_size": 0.2,
              "gcm_rows": 2000},
}


# ============================================================================ pieces
def paths_via(graph: nx.DiGraph, source, via) -> list:
    """Every directed path that leaves ``source`` by the edge ``source -> via``, to every
    node it reaches (``[source, via]`` included), as lists of nodes."""
    if not graph.has_edge(source, via):
        raise ValueError(f"{source!r} -> {via!r} is not an edge of the graph")
    paths = [[source, via]]
    for target in sorted(nx.descendants(graph, via), key=str):
        paths += [[source] + p for p in nx.all_simple_paths(graph, via, target)]
    return paths


def split_data(data: pd.DataFrame, test_size: float, random_state: int):
    """Stratified train/test split; test rows holding a label that no train row has (a
    country seen once) are dropped, since no model fitted on the train rows knows it.
    Returns ``(train, test, n_dropped)``."""
    from sklearn.model_selection import train_test_split
    train, test = train_test_split(data, test_size=test_size, stratify=data[LABEL],
                                   random_state=random_state)
    keep = np.ones(len(test), dtype=bool)
    for c in data.columns:
        if not pd.api.types.is_numeric_dtype(data[c]):
            keep &= test[c].isin(set(train[c])).to_numpy()
    return (train.reset_index(drop=True), test[keep].reset_index(drop=True),
            int((~keep).sum()))


def make_classifier(features, levels: dict, kind: str = "hgb", random_state: int = 0):
    """The downstream classifier: a pipeline reading the DataFrame columns ``features``
    (string columns: the categories ``levels[col]``; unseen ones count as missing)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
    cat = [c for c in features if c in levels]
    num = [c for c in features if c not in levels]
    cats = [list(levels[c]) for c in cat]
    if kind == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        enc = ColumnTransformer(
            [("cat", OrdinalEncoder(categories=cats, handle_unknown="use_encoded_value",
                                    unknown_value=np.nan), cat),
             ("num", "passthrough", num)], verbose_feature_names_out=False)
        model = HistGradientBoostingClassifier(
            categorical_features=[True] * len(cat) + [False] * len(num),
            random_state=random_state)
    elif kind == "mlp":
        from sklearn.neural_network import MLPClassifier
        enc = ColumnTransformer(
            [("cat", OneHotEncoder(categories=cats, handle_unknown="ignore"), cat),
             ("num", StandardScaler(), num)], verbose_feature_names_out=False)
        model = MLPClassifier(hidden_layer_sizes=(100,), early_stopping=True, max_iter=200,
                              random_state=random_state)
    else:
        raise ValueError(f"classifier must be 'hgb' or 'mlp', got {kind!r}")
    return Pipeline([("encode", enc), ("model", model)])


class FairWorldPredictor:
    """A fitted classifier applied to each unit's fair-world counterpart: the unit's own
    counterfactual in which ``protected`` reaches no column (``gen.path_specific(reference,
    [], X=frame)``). A discrete node's noise is a posterior draw, so the probabilities are
    averaged over ``n_draws`` abductions (fixed seeds: a function of the unit). The label
    is not an input: it enters the abduction as a missing cell (a leaf, so no other node's
    noise depends on it). ``transport`` (an
    :class:`~dowhy_ccgm.fairness.AssociationTransport`): the other roots are moved to the
    reference group first. Scores like a binary classifier."""

    def __init__(self, classifier, gen, reference: dict, random_state: int = 0,
                 n_draws: int = 8, transport=None):
        self.classifier, self.gen, self.transport = classifier, gen, transport
        self.reference, self.random_state = dict(reference), int(random_state)
        self.n_draws = int(n_draws)
        self.classes_ = classifier.classes_
        self.feature_names_in_ = np.asarray(classifier.feature_names_in_, dtype=object)

    def fair_world(self, frame: pd.DataFrame, draw: int = 0) -> pd.DataFrame:
        moved = None if self.transport is None else self.transport.transform(
            frame, random_state=self.random_state + draw)
        frame = frame.assign(**{LABEL: np.nan})
        return self.gen.path_specific(self.reference, [], X=frame, interventions=moved,
                                      random_state=self.random_state + draw)

    def draw_probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n_draws, n)``: the classifier's P(label = 1) at each draw of the units'
        fair-world counterparts."""
        cols = list(self.feature_names_in_)
        return np.stack([self.classifier.predict_proba(self.fair_world(frame[cols], k)[cols])
                         [:, 1] for k in range(self.n_draws)])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.draw_probabilities(frame).mean(0)
        return np.column_stack([1.0 - p, p])


@contextlib.contextmanager
def _gcm_progress(show: bool):
    """DoWhy's progress bars on or off for the block (its global setting restored)."""
    from dowhy.gcm import config
    before = config.show_progress_bars
    config.show_progress_bars = bool(show)
    try:
        yield
    finally:
        config.show_progress_bars = before


def gcm_sample(graph, train: pd.DataFrame, n: int, random_state: int,
               show: bool = False, max_rows: int | None = None) -> tuple:
    """DoWhy's auto-assigned GCM as a peer generator: assign, fit on ``train``, draw ``n``
    rows. ``income`` passes as a boolean (DoWhy treats an integer column as continuous).

    Workaround of a DoWhy 0.14 bug: ``assign_causal_mechanisms`` scores its candidate
    classifiers by 5-fold log loss and fails ("y_true and y_prob contain different number
    of classes") when a category of a non-root node has fewer than 5 rows (a test fold then
    lacks it: occupation ``Armed-Forces``, employer type ``Without-pay``). Such nodes get
    DoWhy's own gradient-boosting classifier (``ClassifierFCM(create_hist_gradient_boost_
    classifier())``, the first candidate of its ``GOOD`` list) before the automatic
    assignment, which then leaves them alone. ``max_rows``: fit on a stratified subsample
    of at most this many rows. Returns ``(samples, preassigned nodes)``."""
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed
    if max_rows is not None and max_rows < len(train):
        from sklearn.model_selection import train_test_split
        train, _ = train_test_split(train, train_size=int(max_rows), stratify=train[LABEL],
                                    random_state=int(random_state))
    set_random_seed(int(random_state))
    frame = train.assign(**{LABEL: train[LABEL].astype(bool)})
    graph = nx.DiGraph(graph)
    with _gcm_progress(show):
        scm = gcm.StructuralCausalModel(graph)
        preassigned = []
        for node in nx.topological_sort(graph):
            col = frame[node]
            if graph.in_degree(node) == 0 or pd.api.types.is_numeric_dtype(col):
                continue
            if col.value_counts().min() < 5:
                scm.set_causal_mechanism(node, gcm.ClassifierFCM(
                    gcm.ml.create_hist_gradient_boost_classifier()))
                preassigned.append(node)
        gcm.auto.assign_causal_mechanisms(scm, frame)
        gcm.fit(scm, frame)
        out = gcm.draw_samples(scm, int(n))
    out[LABEL] = out[LABEL].astype(bool).astype(np.int64)
    return out[list(train.columns)], preassigned


def label_gap(frame: pd.DataFrame) -> float:
    """``P(income = 1 | Male) - P(income = 1 | Female)`` of a data set."""
    rates = frame.groupby(frame[PROTECTED].astype(str))[LABEL].mean()
    return float(rates.get("Male", np.nan) - rates.get("Female", np.nan))


def scores_and_labels(predictor, frame: pd.DataFrame) -> tuple:
    """``(P(label = 1), predicted label)`` per row: the label is ``P >= 0.5``, or for a
    :class:`FairWorldPredictor` (randomized: its inputs are posterior draws) the mean of
    the draws' labels, in [0, 1], and the score the mean of their probabilities."""
    if isinstance(predictor, FairWorldPredictor):
        draws = predictor.draw_probabilities(frame)
        return draws.mean(0), (draws >= 0.5).mean(0)
    score = predictor.predict_proba(frame)[:, 1]
    return score, (score >= 0.5).astype(np.float64)


def evaluate(predictor, test: pd.DataFrame, features, gen, *, random_state: int) -> dict:
    """The classifier's metrics on the real test rows (see the module docstring)."""
    from sklearn.metrics import roc_auc_score

    from ..fairness import counterfactual_fairness, demographic_parity

    def positive_rate(frame):
        return float(np.mean(scores_and_labels(predictor, frame)[1]))

    X = test[list(features)]
    score, pred = scores_and_labels(predictor, X)
    y = test[LABEL].to_numpy().astype(np.float64)
    hits = float(np.sum(pred * y))           # (expected counts for a randomized predictor)
    ftu = 0.0
    if PROTECTED in features:
        ftu = abs(positive_rate(X.assign(**{PROTECTED: "Female"}))
                  - positive_rate(X.assign(**{PROTECTED: "Male"})))
    audit = counterfactual_fairness(gen, predictor, test, PROTECTED, features=list(features),
                                    random_state=random_state)
    groups = test[PROTECTED].to_numpy()
    return {"precision": hits / float(pred.sum()) if pred.sum() > 0 else 0.0,
            "recall": hits / float(y.sum()) if y.sum() > 0 else 0.0,
            "auroc": float(roc_auc_score(y, score)),
            "dp": demographic_parity(pred, groups),
            "dp_mean_score_thresholded": demographic_parity(score >= 0.5, groups),
            "ftu": float(ftu), "cf_unfairness": audit.unfairness,
            "positive_rate": float(pred.mean())}


def fit_ccgm(train: pd.DataFrame, *, epochs: int, random_state: int, progress_bar=None):
    """The CCGM of the experiment: :func:`~dowhy_ccgm.datasets.adult_graph`, the
    generator's defaults (exact likelihood, ``ccgm_noise``, point masses of the capital
    columns detected), ``epochs`` passes at most (early stopping)."""
    from .. import CCGMGenerator
    from ..datasets import adult_graph
    return CCGMGenerator(adult_graph(), epochs=epochs, random_state=random_state,
                         progress_bar=progress_bar).fit(train)


# ============================================================================ one seed
def run_seed(data: pd.DataFrame, seed: int, *, epochs: int, test_size: float,
             classifier: str = "hgb", include_gcm: bool = True, gcm_rows: int | None = None,
             progress_bar=None, bar=None) -> tuple:
    """One replication: split, fit, generate, train and test every row.

    Returns ``(records, info)``: one dict per row (its metrics) and the seed's facts
    (sizes, timings, epochs trained, the fitted generator under ``"gen"``)."""
    from ..datasets import adult_graph
    from ..fairness import AssociationTransport, fair_sample
    graph = adult_graph()
    s = named_seeds(seed, ["split", "fit", "sample", "fair", "path", "gcm", "clf", "audit",
                           "fair_world"])
    levels = {c: sorted(data[c].astype(str).unique()) for c in data.columns
              if not pd.api.types.is_numeric_dtype(data[c])}
    timings = {}

    def step(name):
        if bar is not None:
            bar.set_postfix_str(f"seed {seed}: {name}")

    def timed(name, fn, *a, **kw):
        step(name)
        t = time.perf_counter()
        out = fn(*a, **kw)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t
        if bar is not None:
            bar.update(1)
        return out

    train, test, n_dropped = split_data(data, test_size, s["split"])
    n = len(train)
    gen = timed("fit CCGM", fit_ccgm, train, epochs=epochs, random_state=s["fit"],
                progress_bar=progress_bar)
    reference = {PROTECTED: REFERENCE}
    sets = {REAL: train, UNAWARE: train}
    sets[CCGM] = timed("sample CCGM", gen.sample, n, random_state=s["sample"])
    sets[FAIR] = timed("fair data", fair_sample, gen, PROTECTED, n, reference=reference,
                       allowed=[], random_state=s["fair"])
    sets[PATH] = timed("path-specific data", fair_sample, gen, PROTECTED, n,
                       reference=reference, allowed=paths_via(graph, PROTECTED, RESOLVING),
                       random_state=s["path"])
    if include_gcm:
        sets[GCM], gcm_preassigned = timed("DoWhy GCM", gcm_sample, graph, train, n,
                                           s["gcm"], show=bool(progress_bar),
                                           max_rows=gcm_rows)
    else:
        gcm_preassigned = []
    all_features = [c for c in data.columns if c != LABEL]
    records, fitted = [], {}
    for name, source in ROWS:
        if name in (FAIR_WORLD, FAIR_WORLD_T):
            if FAIR not in fitted:
                continue
            transport = None if name == FAIR_WORLD else \
                AssociationTransport(gen, [PROTECTED], reference).fit(train)
            predictor = FairWorldPredictor(fitted[FAIR], gen, reference, s["fair_world"],
                                           transport=transport)
            frame = sets[FAIR]
        elif name in sets:
            frame = sets[name]
            features = [c for c in all_features if not (name == UNAWARE and c == PROTECTED)]
            predictor = timed("classifiers", make_classifier(features, levels, classifier,
                                                             s["clf"]).fit,
                              frame[features], frame[LABEL].astype(np.int64))
            fitted[name] = predictor
        else:
            continue
        features = list(predictor.feature_names_in_)
        metrics = timed("evaluate", evaluate, predictor, test, features, gen,
                        random_state=s["audit"])
        records.append({"method": name, "source": source, "seed": int(seed), **metrics,
                        "data_dp": label_gap(frame)})
    real_auroc = next(r["auroc"] for r in records if r["method"] == REAL)
    for r in records:
        r["auroc_cost"] = real_auroc - r["auroc"]
    info = {"seed": int(seed), "n_train": n, "n_test": len(test),
            "n_test_dropped": n_dropped, "epochs_trained": int(gen.history_["epochs"]),
            "gcm_preassigned": gcm_preassigned,
            "gcm_rows": (min(n, gcm_rows) if gcm_rows else n) if include_gcm else 0,
            "timings": timings, "gen": gen}
    return records, info


# ============================================================================ the table
def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over the seeds of every metric, one row per method (table order)."""
    order = [name for name, _ in ROWS if name in set(per_seed["method"])]
    g = per_seed.groupby("method", sort=False)
    mean, sd = g[METRICS].mean(), g[METRICS].std(ddof=1)
    table = pd.DataFrame({"method": order,
                          "source": [dict(ROWS)[m] for m in order],
                          "n_seeds": [int(g.size()[m]) for m in order]})
    for m in METRICS:
        table[m] = mean.loc[order, m].to_numpy()
        table[f"{m}_sd"] = sd.loc[order, m].to_numpy()
    return table


def fairness_table(data=None, *, quick: bool = False, n_seeds: int | None = None,
                   n_rows: int | None = None, epochs: int | None = None,
                   gcm_rows: int | None = None,
                   random_state: int = 0, classifier: str = "hgb", include_gcm: bool = True,
                   progress_bar=None, n_jobs: int = 1, n_threads: int | None = 1):
    """DECAF's protocol on Adult with CCGM (and DoWhy's GCM as a peer).

    Parameters
    ----------
    data : DataFrame, optional
        Default :func:`~dowhy_ccgm.datasets.load_adult`; needs its 13 columns.
    quick : bool
        One seed, 6,000 rows, 15 epochs: a smoke run of the whole pipeline.
    n_seeds, n_rows, epochs, gcm_rows : int, optional
        Override the settings (``n_rows``: a stratified subsample of the data, before the
        split; ``epochs``: the CCGM's maximum passes, early stopping applies;
        ``gcm_rows``: the train rows the DoWhy GCM is fitted on, 0 for all).
    random_state : int
        Seeds every step of every replication.
    classifier : {"hgb", "mlp"}
        The downstream classifier (:func:`make_classifier`).
    include_gcm : bool
        Also the DoWhy GCM row.
    progress_bar : bool, optional
        tqdm bars; ``None`` follows ``dowhy.gcm.config.show_progress_bars``.
    n_jobs : int
        Replications run in parallel (results do not depend on it).
    n_threads : int or None, default 1
        OpenMP/BLAS threads of the classifiers and of DoWhy's models (``None``: the
        libraries' default, every core). One by default: on a shared 2-core machine
        OpenMP oversubscription made one ``HistGradientBoostingClassifier`` fit 35 times
        slower (188 s instead of 5 s, measured).

    Returns
    -------
    table : DataFrame
        One row per method: ``method, source, n_seeds`` and every metric's mean and
        ``<metric>_sd`` (:data:`METRICS`).
    artefacts : dict
        ``per_seed`` (the metrics of every replication), ``info`` (per seed: sizes,
        epochs trained, timings), ``gens`` (the fitted generators), ``settings``,
        ``target`` (the DP target and whether the fair row meets it) and ``timings``.
    """
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=None if n_threads is None else int(n_threads)):
        return _fairness_table(data, quick=quick, n_seeds=n_seeds, n_rows=n_rows,
                               epochs=epochs, gcm_rows=gcm_rows, random_state=random_state,
                               classifier=classifier, include_gcm=include_gcm,
                               progress_bar=progress_bar, n_jobs=n_jobs)


def _fairness_table(data, *, quick, n_seeds, n_rows, epochs, gcm_rows, random_state,
                    classifier, include_gcm, progress_bar, n_jobs):
    from .._progress import progress_bar as tqdm
    t0 = time.perf_counter()
    if data is None:
        from ..datasets import load_adult
        data = load_adult()
    missing = [c for c in ["age", "type_employer", "education_num", "marital", "occupation",
                           "relationship", "race", "sex", "capital_gain", "capital_loss",
                           "hr_per_week", "country", "income"] if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks the column(s) {missing}")
    cfg = dict(SETTINGS["quick" if quick else "full"])
    for key, val in (("n_seeds", n_seeds), ("n_rows", n_rows), ("epochs", epochs),
                     ("gcm_rows", gcm_rows)):
        if val is not None:
            cfg[key] = int(val)
    if not cfg["gcm_rows"]:
        cfg["gcm_rows"] = None
    if cfg["n_seeds"] < 1:
        raise ValueError(f"n_seeds must be positive, got {cfg['n_seeds']}")
    if classifier not in ("hgb", "mlp"):
        raise ValueError(f"classifier must be 'hgb' or 'mlp', got {classifier!r}")
    show = experiment_progress(progress_bar)
    seeds = named_seeds(random_state, ["rows"] + [f"rep{k}" for k in range(cfg["n_seeds"])])
    data = data.reset_index(drop=True)
    if cfg["n_rows"] is not None and cfg["n_rows"] < len(data):
        from sklearn.model_selection import train_test_split
        data, _ = train_test_split(data, train_size=cfg["n_rows"], stratify=data[LABEL],
                                   random_state=seeds["rows"])
        data = data.reset_index(drop=True)
    rep_seeds = [seeds[f"rep{k}"] for k in range(cfg["n_seeds"])]
    kw = dict(epochs=cfg["epochs"], test_size=cfg["test_size"], classifier=classifier,
              include_gcm=include_gcm, gcm_rows=cfg["gcm_rows"])
    n_jobs = max(1, min(int(n_jobs), len(rep_seeds)))
    n_eval = len(ROWS) - (0 if include_gcm else 1)       # rows evaluated per seed
    # per seed: fit, sample, fair, path-specific (+ GCM), a classifier per data set, and
    # an evaluation per row (the fair-world row reuses the fair classifier)
    steps = 4 + int(bool(include_gcm)) + (n_eval - 1) + n_eval
    if n_jobs > 1:
        from joblib import Parallel, delayed
        runner = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(run_seed)(data, s, progress_bar=False, **kw) for s in rep_seeds)
        results = list(tqdm(runner, total=len(rep_seeds), disable=not show,
                            desc="Fairness replications (parallel)"))
    else:
        results = []
        with tqdm(total=steps * len(rep_seeds), disable=not show,
                  desc="Fairness experiment") as bar:
            for s in rep_seeds:
                results.append(run_seed(data, s, progress_bar=show, bar=bar, **kw))
    per_seed = pd.DataFrame([r for recs, _ in results for r in recs])
    table = summarise(per_seed)
    info = [{k: v for k, v in i.items() if k != "gen"} for _, i in results]
    by_method = table.set_index("method")
    fair_dp = float(by_method.loc[FAIR, "dp"])
    world_dp = float(by_method.loc[FAIR_WORLD_T, "dp"]) if FAIR_WORLD_T in by_method.index \
        else None
    timings = {}
    for i in info:
        for k, v in i["timings"].items():
            timings[k] = timings.get(k, 0.0) + v
    timings["total"] = time.perf_counter() - t0
    artefacts = {
        "per_seed": per_seed, "info": info, "gens": [i["gen"] for _, i in results],
        "settings": {"quick": bool(quick), **cfg, "classifier": classifier,
                     "random_state": int(random_state), "seeds": rep_seeds,
                     "include_gcm": bool(include_gcm), "protected": PROTECTED,
                     "reference": REFERENCE, "resolving": RESOLVING, "n_rows_used": len(data)},
        "target": {"dp_max": DP_TARGET, "row": FAIR, "dp": fair_dp,
                   "met": bool(fair_dp <= DP_TARGET),
                   # the same bound for the fair pipeline: fair data, fair-world test inputs
                   "fair_world": None if world_dp is None else {
                       "row": FAIR_WORLD_T, "dp": world_dp,
                       "met": bool(world_dp <= DP_TARGET)}},
        "timings": timings,
    }
    return table, artefacts


# ============================================================================ output
_HEAD = {"precision": "precision", "recall": "recall", "auroc": "AUROC",
         "auroc_cost": "AUROC cost", "dp": "DP", "ftu": "FTU",
         "cf_unfairness": "CF unfairness", "data_dp": "data DP"}


def _pm(mean, sd) -> str:
    if not np.isfinite(mean):
        return ""
    text = f"{mean:.3f}".replace("-0.000", "0.000")
    return text if not np.isfinite(sd) else f"{text} ± {sd:.3f}"


def format_markdown(table: pd.DataFrame) -> str:
    """The table as markdown: mean ± sd over the seeds."""
    head = "| method | " + " | ".join(_HEAD[m] for m in METRICS) + " |"
    rule = "|---|" + "---:|" * len(METRICS)
    lines = [head, rule]
    for r in table.itertuples(index=False):
        cells = [_pm(getattr(r, m), getattr(r, f"{m}_sd")) for m in METRICS]
        lines.append(f"| {r.method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


LEGEND = """Classifier trained on each row's data, tested on the held-out REAL rows. AUROC cost =
real-data AUROC - this row's (per seed). DP = |positive rate(Male) - positive rate(Female)|
of the predicted labels; FTU = change of the positive rate when only the sex input is
flipped; CF unfairness = mean |f(x_cf) - f(x)| of the predicted probability under each
unit's own counterfactual of sex (the CCGM fitted on the real train rows as the causal
model for every row); data DP = P(income=1 | Male) - P(income=1 | Female) of the training
data (for the fair rows: the gap left by the sexes' different age/race/country mix, which
no path from sex carries). Fair-world rows: a unit's label is the mean over 8 posterior
draws of its fair-world counterpart (precision, recall, DP, FTU are expectations), and FTU
also changes the abduction, see the module docstring. DECAF's published Adult numbers: not
available (no citable source could be read)."""


def table_records(table: pd.DataFrame) -> list:
    """JSON-ready rows (NaN -> None)."""
    out = []
    for rec in table.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        (float(v) if isinstance(v, (float, np.floating)) else
                         (int(v) if isinstance(v, (np.integer,)) else v)))
                    for k, v in rec.items()})
    return out


def plot_figure(table: pd.DataFrame, per_seed: pd.DataFrame, path: str) -> str:
    """AUROC against the DP difference (left) and the counterfactual unfairness (right),
    one point per row (mean, sd bars; small dots: the seeds). Returns ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    markers = {"real data": "s", "CCGM": "o", "DoWhy GCM": "^"}
    for ax, metric, label in ((axes[0], "dp", "demographic-parity difference (real test rows)"),
                              (axes[1], "cf_unfairness",
                               "counterfactual unfairness (mean |f(x_cf) - f(x)|)")):
        for k, r in enumerate(table.itertuples(index=False)):
            colour = f"C{k}"
            seeds = per_seed[per_seed["method"] == r.method]
            ax.scatter(seeds[metric], seeds["auroc"], s=10, color=colour, alpha=0.35)
            ax.errorbar(getattr(r, metric), r.auroc, xerr=getattr(r, f"{metric}_sd"),
                        yerr=r.auroc_sd, fmt=markers.get(r.source, "o"), color=colour,
                        ms=8, capsize=3, label=r.method)
        if metric == "dp":
            ax.axvline(DP_TARGET, color="k", ls="--", lw=0.8, label=f"DP target {DP_TARGET}")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AUROC on real test rows")
    axes[0].legend(frameon=False, fontsize=7, loc="best")
    fig.suptitle("Adult, protected attribute sex: utility vs fairness of a classifier "
                 "trained on each data set")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ============================================================================ CLI
#: where ``ccgm fairness`` writes by default (relative to the working directory)
DEFAULT_OUT = os.path.join("results", "fairness")


def add_arguments(p):
    from ._args import n_jobs, non_negative_int, output_dir, output_file, positive_int, seed
    p.add_argument("--quick", action="store_true",
                   help="smoke run: one seed, 6,000 rows, 15 epochs (under a minute)")
    p.add_argument("--out", metavar="DIR", type=output_dir, default=None,
                   help=f"write fairness.json, table.md and fairness.png here (default "
                        f"{DEFAULT_OUT})")
    p.add_argument("--json", metavar="PATH", type=output_file,
                   help="write the results JSON here instead of OUT/fairness.json (e.g. "
                        "benchmarks/results/fairness.json)")
    p.add_argument("--seed", type=seed, default=0, help="seed of every step (default 0)")
    p.add_argument("--n-seeds", type=positive_int, default=None, dest="n_seeds",
                   help="replications (split, fit, generate, classify; default 3, 1 with "
                        "--quick)")
    p.add_argument("--n-rows", type=positive_int, default=None, dest="n_rows",
                   help="use a stratified subsample of this many rows (default: all 30,162; "
                        "6,000 with --quick)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="the CCGM's maximum passes (default 200, early stopping; 15 with "
                        "--quick)")
    p.add_argument("--classifier", choices=("hgb", "mlp"), default="hgb",
                   help="downstream classifier: hgb (HistGradientBoosting, default) or mlp "
                        "(MLPClassifier, DECAF's choice)")
    p.add_argument("--gcm-rows", type=non_negative_int, default=None, dest="gcm_rows",
                   help="fit the DoWhy GCM on a stratified subsample of this many train rows "
                        "(default 6,000, 2,000 with --quick; 0: all; it takes minutes per "
                        "10,000 rows)")
    p.add_argument("--no-gcm", action="store_false", dest="include_gcm",
                   help="skip the DoWhy GCM peer row")
    p.add_argument("--n-jobs", type=n_jobs, default=1, dest="n_jobs",
                   help="replications in parallel (default 1; -1: all cores)")
    p.add_argument("--no-progress", action="store_false", dest="progress",
                   help="hide the progress bars")


def run(args) -> int:
    from ._args import output_paths, resolve_n_jobs, write_json
    table, art = fairness_table(
        quick=args.quick, n_seeds=args.n_seeds, n_rows=args.n_rows, epochs=args.epochs,
        gcm_rows=getattr(args, "gcm_rows", None),
        random_state=args.seed, classifier=args.classifier,
        include_gcm=getattr(args, "include_gcm", True),
        progress_bar=None if getattr(args, "progress", True) else False,
        n_jobs=resolve_n_jobs(getattr(args, "n_jobs", 1)))
    st = art["settings"]
    info = art["info"]
    title = (f"Adult, protected attribute sex; {st['n_seeds']} seed(s) (mean ± sd), "
             f"{info[0]['n_train']} train / {info[0]['n_test']} test rows, classifier "
             f"{st['classifier']}, CCGM epochs trained "
             f"{', '.join(str(i['epochs_trained']) for i in info)}"
             + (f", DoWhy GCM fitted on {info[0]['gcm_rows']} train rows"
                if st["include_gcm"] else "")
             + ("; QUICK settings" if st["quick"] else ""))
    md = format_markdown(table)
    print(title)
    print(md)
    print()
    print(LEGEND)
    tgt = art["target"]
    print(f"\nTarget: DP of the fully fair data's classifier <= {tgt['dp_max']}: "
          f"{tgt['dp']:.3f} -> {'met' if tgt['met'] else 'NOT met'}")
    if tgt.get("fair_world"):
        w = tgt["fair_world"]
        print(f"  the same on fair-world test inputs, roots transported: {w['dp']:.3f} -> "
              f"{'met' if w['met'] else 'NOT met'}")
    print("timings (s): " + ", ".join(f"{k} {t:.1f}" for k, t in art["timings"].items()))
    out, json_path = output_paths(args, DEFAULT_OUT, "fairness.json")
    os.makedirs(out, exist_ok=True)
    md_path = os.path.join(out, "table.md")
    with open(md_path, "w") as fh:
        fh.write(f"{title}\n\n{md}\n\n{LEGEND}\n")
    write_json(json_path, {
        "title": title, "table": table_records(table),
        "per_seed": table_records(art["per_seed"]),
        "info": art["info"], "settings": st, "target": tgt, "timings": art["timings"],
        "decaf_published": DECAF_PUBLISHED,
        "decaf_published_note": "DECAF's Adult table (van Breugel et al. 2021) could not "
                                "be read from a citable source; not reported."})
    fig = plot_figure(table, art["per_seed"], os.path.join(out, "fairness.png"))
    for p in (md_path, json_path, fig):
        print(f"wrote {p}")
    return 0
