"""The maintainers' seams: the one training loop's schedules, the typed fitted state, the
one removal rule and the one column-kind rule."""
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm._fitted import FittedCCGM
from dowhy_ccgm._loop import (Adam, EarlyStopping, Plateau, absolute_improvement,
                              relative_improvement)
from dowhy_ccgm._removal import Insertion
from dowhy_ccgm._root_sampling import (CopulaRoots, EmpiricalRoots, IndependentRoots,
                                       RootStateError)
from dowhy_ccgm.gcm._mechanism import detect_kind


def _values(seed=0, n=60):
    """A validation curve that falls, stalls and wanders, on both sides of zero."""
    rng = np.random.default_rng(seed)
    return list(np.cumsum(rng.normal(-0.02, 0.05, n)) + rng.normal(0, 0.01, n) - 0.3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plateau_follows_torch_reduce_lr_on_plateau(seed):
    """The ELBO fit's Plateau object replaced torch's ReduceLROnPlateau: the same learning
    rate after every check, on curves that cross zero (torch's relative threshold)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2,
                                                       threshold=1e-4)
    mine = Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    plateau = Plateau(2, lambda v, best: v < best * (1.0 - 1e-4), best="improved",
                      min_change=1e-8)
    for v in _values(seed):
        sched.step(v)
        plateau.step(v, mine)
        assert mine.lr == opt.param_groups[0]["lr"]


def test_early_stopping_keeps_and_stops_by_its_rule():
    # "lowest": keep every new minimum, count improvements of more than tol
    s = EarlyStopping(2, absolute_improvement(0.1))
    assert [s.update(v) for v in (1.0, 0.95, 0.8, 0.79, 0.78)] == [True, True, True, True,
                                                                   True]
    assert s.bad == 2 and s.stop and s.best == 0.78       # 0.95, 0.79, 0.78: no tol gain
    # "improved": keep only the improvements, best moves only with them
    s = EarlyStopping(3, relative_improvement(0.1), best="improved")
    assert [s.update(v) for v in (2.0, 1.9, 1.5, 1.45)] == [True, False, True, False]
    assert s.best == 1.5 and s.bad == 1 and not s.stop
    assert not EarlyStopping(0, absolute_improvement(0.0)).stop       # patience 0: never
    assert relative_improvement(1e-4)(5.0, math.inf)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    n = 800
    a = rng.normal(size=n)
    c = np.where(a + rng.normal(size=n) > 0, "hi", "lo")
    k = rng.poisson(2, n)
    y = a + (c == "hi") + 0.3 * k + rng.normal(size=n)
    df = pd.DataFrame({"a": a, "c": c, "k": k, "y": y})
    g = nx.DiGraph([("a", "c"), ("a", "y"), ("c", "y"), ("k", "y")])
    fits = {rs: CCGMGenerator(g, epochs=3, root_sampling=rs, random_state=0,
                              progress_bar=False).fit(df)
            for rs in ("empirical", "copula", "independent")}
    return df, fits


@pytest.mark.parametrize("rs,cls", [("empirical", EmpiricalRoots), ("copula", CopulaRoots),
                                    ("independent", IndependentRoots)])
def test_fitted_state_round_trip_is_exact(fitted, rs, cls):
    """to_state / from_state rebuilds the net with the fit's one builder: samples,
    counterfactuals and a removed edge's samples are identical, bit for bit."""
    df, fits = fitted
    gen = fits[rs]
    model = gen.model_.without_edge("a", "y", "marginal", torch.Generator().manual_seed(1))
    back = FittedCCGM.from_state(model.to_state())
    assert isinstance(back.roots, cls) and back.roots.kind == rs
    for m in (model, back):
        assert m.removed_pairs() == [("a", "y")]
    g1, g2 = (torch.Generator().manual_seed(3) for _ in range(2))
    pd.testing.assert_frame_equal(model.sample(500, g1), back.sample(500, g2))
    g1, g2 = (torch.Generator().manual_seed(4) for _ in range(2))
    pd.testing.assert_frame_equal(model.counterfactual(df.head(40), {"c": "hi"}, g1),
                                  back.counterfactual(df.head(40), {"c": "hi"}, g2))


def test_root_classes_check_their_state(fitted):
    _, fits = fitted
    net = fits["empirical"].model_.net
    roots = fits["empirical"].model_.roots
    state = roots.state_dict()
    again = EmpiricalRoots.from_state_dict(state, net)
    assert again.n_rows == roots.n_rows == 800 and again.values_idx == roots.values_idx
    draw = again.draw(5, torch.Generator().manual_seed(0))
    assert set(draw.columns) == {"z"} and draw.values.shape == (5, 2)     # roots a, k
    assert draw.columns["z"][1].shape == (5, 2)
    with pytest.raises(RootStateError, match=r"lists the 'z' columns \[0\]"):
        EmpiricalRoots.from_state_dict({**state, "z_idx": torch.tensor([0])}, net)
    with pytest.raises(RootStateError, match=r"non-finite 'z'"):
        EmpiricalRoots.from_state_dict({**state, "z": state["z"] * np.nan}, net)
    cop = fits["copula"].model_.roots.state_dict()
    with pytest.raises(RootStateError, match="not a finite"):
        CopulaRoots.from_state_dict({**cop, "copula": cop["copula"] * np.nan}, net)
    assert IndependentRoots().draw(5, torch.Generator()) is None


def test_one_insertion_rule_for_tensors_and_values():
    pool = Insertion("pool", np.arange(10.0), reference=4.5)
    rows = pool.sampled(6, lambda high, n: np.arange(n) % high)
    assert rows.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert pool.unit_level() == 4.5 and pool.at(True) == Insertion("const", 4.5, 4.5)
    assert pool.at(False) is pool
    const = Insertion("const", torch.tensor([1.0]), torch.tensor([1.0]))
    assert const.sampled(3, None).tolist() == [1.0]      # one value for every row


def test_one_column_kind_rule_in_the_estimator_and_the_dowhy_path():
    """An object column of numbers is numeric and one of bools binary in both paths (the
    estimator read numbers stored as objects as one category per value)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    cols = {"num": a.astype(object), "flag": (a > 0).astype(object),
            "lab": np.where(a > 0.5, "x", np.where(a < -0.5, "y", "z")).astype(object)}
    df = pd.DataFrame({**cols, "out": a + rng.normal(size=300)})
    g = nx.DiGraph([(c, "out") for c in cols])
    gen = CCGMGenerator(g, epochs=1, progress_bar=False).fit(df)
    kinds = {c: gen.schema_.by_name[c].kind for c in cols}
    assert kinds == {"num": "continuous", "flag": "binary", "lab": "categorical"}
    assert {c: detect_kind(v) for c, v in cols.items()} == kinds


def test_threads_are_chosen_by_the_work_and_do_not_change_results(fitted, monkeypatch):
    from dowhy_ccgm._utils import THREAD_WORK, auto_threads
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert auto_threads(THREAD_WORK - 1) == 1 and auto_threads(THREAD_WORK) == 2
        torch.set_num_threads(1)                 # never more than torch's own setting
        assert auto_threads(10 * THREAD_WORK) == 1
    finally:
        torch.set_num_threads(old)
    df, _ = fitted
    big = pd.concat([df] * 4, ignore_index=True)        # 3,200 rows x 4 nodes per chunk
    g = nx.DiGraph([("a", "c"), ("a", "y"), ("c", "y"), ("k", "y")])
    runs = []
    for threads in (1, 2):
        gen = CCGMGenerator(g, epochs=2, random_state=0, n_threads=threads,
                            progress_bar=False).fit(big)
        runs.append((gen.sample(5000, random_state=1),
                     gen.counterfactual(big.head(300), {"c": "hi"}, random_state=2)))
    for a, b in zip(*runs):
        pd.testing.assert_frame_equal(a, b)
