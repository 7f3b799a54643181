"""Pickling with tensors as numpy arrays (:mod:`dowhy_ccgm.nn._pickling`): what DoWhy's
parallel workers receive once per task is the same model, and no tensor goes through
PyTorch's storage pickling (about 70 microseconds per tensor to load, where a numpy
array takes a few)."""
import pickle

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.nn._pickling import NumpyPickleMixin

#: (the fits here are brief on purpose)
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

#: what PyTorch's own pickling of a tensor writes (its rebuild functions)
TORCH_REBUILD = b"_rebuild_tensor"


@pytest.fixture(scope="module")
def mixed():
    """A fitted generator with every kind of part a net holds: a binary root, a
    zero-inflated node, a categorical node, an exact formula node, stored root noise and
    a removed edge."""
    rng = np.random.default_rng(0)
    n = 600
    t = rng.binomial(1, 0.3, n)
    x = rng.normal(size=n) + t
    z = np.where(rng.random(n) < 0.3, 0.0, np.exp(0.5 * x + rng.normal(0, 0.3, n)))
    c = np.array(["a", "b", "c"])[(x > 0).astype(int) + (rng.random(n) < 0.3)]
    data = pd.DataFrame({"t": t, "x": x, "z": z, "c": c, "s": x + 2 * t})
    g = nx.DiGraph([("t", "x"), ("x", "z"), ("x", "c"), ("t", "c"), ("x", "s"), ("t", "s")])
    gen = CCGMGenerator(graph=g, epochs=30, hidden=16, random_state=0, progress_bar=False,
                        root_sampling="empirical",
                        column_types={"s": "formula"}).fit(data)
    return gen.remove_edge("t", "c", random_state=0), data


def test_a_fitted_generator_pickles_without_torch_storages(mixed):
    gen, data = mixed
    blob = pickle.dumps(gen)
    # one tensor travels through PyTorch's pickling: the state of the estimator's random
    # stream (a torch.Generator pickles its state that way); none of the model's
    assert blob.count(TORCH_REBUILD) == 1
    assert TORCH_REBUILD not in pickle.dumps(gen.model_)
    back = pickle.loads(blob)
    net, net2 = gen.model_.net, back.model_.net
    a, b = net.state_dict(), net2.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    # non-persistent buffers and the net's other state came back too
    assert {k for k, _ in net.named_buffers()} == {k for k, _ in net2.named_buffers()}
    assert net2.formulas.keys() == net.formulas.keys() and net2.has_formula
    assert not net2.training
    pd.testing.assert_frame_equal(back.sample(300, random_state=5),
                                  gen.sample(300, random_state=5))
    pd.testing.assert_frame_equal(
        back.counterfactual(data.head(50), {"x": 1.0}, random_state=2),
        gen.counterfactual(data.head(50), {"x": 1.0}, random_state=2))


def test_a_gcm_mechanism_pickles_without_torch_storages(mixed):
    from dowhy import gcm
    from dowhy_ccgm.gcm import assign_ccgm_mechanisms
    _, data = mixed
    g = nx.DiGraph([("t", "x"), ("x", "z")])
    scm = gcm.InvertibleStructuralCausalModel(g)
    assign_ccgm_mechanisms(scm, data[["t", "x", "z"]], epochs=20, hidden=8, random_state=0,
                           progress_bar=False)
    gcm.fit(scm, data[["t", "x", "z"]])
    for node in ("x", "z"):
        mech = scm.causal_mechanism(node)
        blob = pickle.dumps(mech)
        assert TORCH_REBUILD not in blob, node
        back = pickle.loads(blob)
        parents = data[["t"] if node == "x" else ["x"]].to_numpy()
        noise = np.linspace(-1.5, 1.5, len(parents)).reshape(-1, 1)
        np.testing.assert_array_equal(back.evaluate(parents, noise),
                                      mech.evaluate(parents, noise))
        y = data[[node]].to_numpy()
        noises = []
        for m in (back, mech):     # (a value on a point mass: its noise is a random draw)
            np.random.seed(0)
            noises.append(m.estimate_noise(y, parents))
        np.testing.assert_array_equal(*noises)


class _Toy(NumpyPickleMixin, nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.frozen = nn.Parameter(torch.ones(2), requires_grad=False)
        self.register_buffer("index", torch.tensor([2, 0, 1]))
        self.register_buffer("flags", torch.tensor([True, False]), persistent=False)
        self.alias = self.index                       # a plain attribute sharing a buffer
        self.nested = {"pair": (torch.arange(4.0), [self.index]), "n": 3}
        self.half = torch.ones(2, dtype=torch.bfloat16)   # numpy cannot hold bfloat16
        self.lin.cache = self.lin.weight              # a submodule's plain alias


def test_the_mixin_keeps_types_flags_and_shared_objects():
    toy = _Toy()
    blob = pickle.dumps(toy)
    back = pickle.loads(blob)
    assert isinstance(back.lin.weight, nn.Parameter) and back.lin.weight.requires_grad
    assert isinstance(back.frozen, nn.Parameter) and not back.frozen.requires_grad
    assert back.alias is back.index and back.nested["pair"][1][0] is back.index
    assert back.lin.cache is back.lin.weight
    assert back.index.dtype == torch.int64 and torch.equal(back.index, toy.index)
    assert back.flags.dtype == torch.bool and "flags" in dict(back.named_buffers())
    assert back.half.dtype == torch.bfloat16 and torch.equal(back.half, toy.half)
    assert isinstance(back.nested["pair"], tuple) and back.nested["n"] == 3
    x = torch.randn(5, 3)
    assert torch.equal(back.lin(x), toy.lin(x))
    # loaded tensors own writable memory (an in-place update does not fail or warn)
    back.lin.weight.data.add_(1.0)
    assert torch.equal(back.lin.weight, toy.lin.weight + 1.0)
    # the bfloat16 tensor is the only one pickled by PyTorch
    assert blob.count(TORCH_REBUILD) == 1


def test_a_gcm_mechanism_is_pickled_once_while_its_model_holds(mixed):
    """DoWhy pickles the mechanisms again for every parallel task: the fitted model's
    pickle is kept and reused, and made again whenever what it holds changes (a weight
    edited in place or through ``.data``, a tensor replaced, a refit); copies stay
    independent and a state pickled without the kept pickle still loads."""
    import copy

    from dowhy_ccgm.gcm import CCGMMechanism
    from dowhy_ccgm.gcm._shipping import CACHE
    _, data = mixed
    X, y = data[["x"]].to_numpy(), data["z"].to_numpy()
    mech = CCGMMechanism(epochs=10, hidden=8, random_state=0, progress_bar=False)
    mech.fit(X, y)
    noise = np.linspace(-1.5, 1.5, len(X))

    def shipped():
        return pickle.loads(pickle.dumps(mech)).evaluate(X, noise)

    first = pickle.dumps(mech)
    kept = mech.__dict__[CACHE][1]
    assert pickle.dumps(mech) == first and mech.__dict__[CACHE][1] is kept
    back = pickle.loads(first)
    assert back.model_.net is back.fitted_.net        # (one pickle: still shared)
    base = mech.evaluate(X, noise)
    np.testing.assert_array_equal(back.evaluate(X, noise), base)
    net = mech.model_.net
    edits = (lambda: net.decoder.a.add_(0.5),                   # in place
             lambda: net.decoder.b.data.add_(0.25),             # no version counter
             lambda: setattr(net.decoder.f, "data", net.decoder.f.data + 0.1))  # replaced
    last = base
    for edit in edits:
        with torch.no_grad():
            edit()
        now = mech.evaluate(X, noise)
        assert not np.allclose(now, last)
        np.testing.assert_array_equal(shipped(), now)
        last = now
    mech.fit(X, y + 1.0)                                        # a refit
    np.testing.assert_array_equal(shipped(), mech.evaluate(X, noise))
    assert not np.allclose(mech.evaluate(X, noise), last)
    twin = copy.deepcopy(mech)
    before = mech.evaluate(X, noise)
    with torch.no_grad():
        twin.model_.net.decoder.a.add_(1.0)
    np.testing.assert_array_equal(mech.evaluate(X, noise), before)
    old = {k: v for k, v in mech.__dict__.items() if k != CACHE}
    again = CCGMMechanism.__new__(CCGMMechanism)
    again.__setstate__(old)
    np.testing.assert_array_equal(again.evaluate(X, noise), before)


def test_an_exported_model_keeps_one_shared_network_through_pickling(mixed):
    """``to_gcm``'s mechanisms read the generator's one network: pickled together they
    load as one network again (not one copy per mechanism)."""
    gen, _ = mixed
    scm = gen.to_gcm()
    nets = {id(scm.causal_mechanism(v).model_.net) for v in scm.graph.nodes
            if hasattr(scm.causal_mechanism(v), "model_")}
    assert len(nets) == 1
    back = pickle.loads(pickle.dumps(scm))
    loaded = [back.causal_mechanism(v).model_.net for v in back.graph.nodes
              if hasattr(back.causal_mechanism(v), "model_")]
    assert len(loaded) >= 3 and len({id(n) for n in loaded}) == 1
