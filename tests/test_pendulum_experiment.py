"""The pendulum experiment (issue 4): label-to-label and label-to-image CCGM, measured.

Small models and few epochs; the whole file runs in a few minutes on 2 busy cores.
"""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from dowhy_ccgm.datasets import shadow_physics
from dowhy_ccgm.experiments import pendulum as P
from dowhy_ccgm.nn._image import (CausalVAEImage, ImageDecoder, ImageEncoder, check_image_size)

N_VALUES = 6
# tolerances (scene units: the frame is 20 wide; the shadow moves by ~5 over a theta sweep)
LABEL_MAE_X = 0.3
LABEL_MAE_W = 0.6
IMAGE_MAE_X = 1.5


def _metrics(rows):
    return {r["metric"]: r["value"] for r in rows}


@pytest.fixture(scope="module")
def cfg():
    return P.Config.quick(size=32, seed=0)


@pytest.fixture(scope="module")
def units(cfg):
    lab, img = P.starting_units(6, N_VALUES, cfg.size, random_state=1)
    return {"labels": lab, "images": img}


@pytest.fixture(scope="module")
def label_gen(cfg):
    torch.set_num_threads(1)
    return P.fit_label_model(P.training_labels(), "ccgm", cfg)


@pytest.fixture(scope="module")
def label_rows(label_gen, units):
    return _metrics(P.measure(P.LabelModel("ccgm_l2l", label_gen, "exact"), units, N_VALUES))


# ---------------------------------------------------------------- label-to-label CCGM
def test_label_ccgm_graph_and_exogenous_diagonal(label_gen):
    A = label_gen.adjacency_
    np.testing.assert_allclose(np.diag(A.loc[P.COLUMNS, P.COLUMNS]), [1, 1, 0, 0])
    assert set(label_gen.graph_.edges) == set(P.GRAPH.edges)


def test_label_ccgm_intervention_fidelity(label_rows):
    m = label_rows
    for s in ("theta", "x_sun"):
        assert m[f"do({s}): {s} set error"] < 1e-4
        assert m[f"do({s}): x_shadow MAE"] < LABEL_MAE_X, m
        assert m[f"do({s}): w_shadow MAE"] < LABEL_MAE_W, m
        # the other exogenous variable stays put
        assert m[f"do({s}): {P.OTHER[s]} change"] < 1e-4
    # the response has the physical size (slopes of x_shadow = (s1 + s2) / 2)
    assert m["do(theta): x_shadow slope"] == pytest.approx(4.55, rel=0.15)
    assert m["do(x_sun): x_shadow slope"] == pytest.approx(-0.65, rel=0.15)


def test_label_ccgm_edge_removal(label_rows):
    m = label_rows
    for s in ("theta", "x_sun"):
        assert abs(m[f"do({s}): x_shadow slope"]) > 0.3  # there is something to remove
        assert m[f"cut {s}->x_shadow, do({s}): x_shadow slope ratio"] < 0.1
        assert m[f"cut {s}->x_shadow, do({s}): w_shadow slope ratio"] == pytest.approx(1, abs=0.2)
        assert m[f"cut {s}->x_shadow, do({s}): w_shadow MAE"] < LABEL_MAE_W


def test_child_intervention_leaves_parents(label_gen, label_rows):
    assert label_rows["do(x_shadow): theta change"] < 1e-4
    assert label_rows["do(x_shadow): x_sun change"] < 1e-4
    assert label_rows["do(x_shadow): x_shadow set error"] < 1e-4
    # and directly, population level: the exogenous marginals do not move
    base = label_gen.sample(2000, random_state=0)
    do = label_gen.intervene({"x_shadow": 18.0}, n_samples=2000, random_state=0)
    np.testing.assert_allclose(do[["theta", "x_sun"]], base[["theta", "x_sun"]], atol=1e-5)


def test_edge_removal_returns_new_model(label_gen, units):
    model = P.LabelModel("m", label_gen, "exact")
    before = model.labels(units, {"theta": np.full(6, 0.5)})[0]
    model.labels(units, {"theta": np.full(6, 0.5)}, removed=("theta", "x_shadow"))
    again = model.labels(units, {"theta": np.full(6, 0.5)})[0]
    pd.testing.assert_frame_equal(before, again)
    assert label_gen.removed_edges_ == []


# ---------------------------------------------------------------- the metrics can fail
class _Leaky(P.OracleImage):
    """Oracle scenes that ignore edge removal and pull x_sun along with x_shadow."""

    images = False
    name = "leaky"

    def labels(self, units, do, removed=None):
        lab = units["labels"].reset_index(drop=True).copy()
        n = len(lab)
        for node, v in do.items():
            lab[node] = np.broadcast_to(np.asarray(v, dtype=float), (n,))
        if "x_shadow" in do:
            lab["x_sun"] = lab["x_sun"] + 0.5 * (lab["x_shadow"] - 10)
        else:
            lab["w_shadow"], lab["x_shadow"] = shadow_physics(lab["theta"], lab["x_sun"])
        return lab, None


def test_metrics_detect_failed_edge_removal_and_leaks(units):
    m = _metrics(P.measure(_Leaky(32, {"theta": 0.0, "x_sun": 9.0}), units, N_VALUES))
    assert m["do(theta): x_shadow MAE"] < 1e-9
    assert m["cut theta->x_shadow, do(theta): x_shadow slope ratio"] == pytest.approx(1.0)
    assert m["do(x_shadow): x_sun change"] > 1.0


def test_oracle_images_read_back(units):
    m = _metrics(P.measure(P.OracleImage(32, {"theta": 0.0, "x_sun": 9.0}), units, N_VALUES))
    assert m["do(theta): x_shadow MAE"] < 0.1
    assert m["cut theta->x_shadow, do(theta): x_shadow slope ratio"] < 0.05
    assert m["do(x_sun): x_shadow slope"] == pytest.approx(-0.65, rel=0.1)


# ---------------------------------------------------------------- label-to-image
def test_image_modules_shapes():
    assert check_image_size(64) == 64
    for bad in (0, 24, 48, 8, "x"):
        with pytest.raises(ValueError):
            check_image_size(bad)
    dec = ImageDecoder(4, 32, 16)
    assert dec(torch.zeros(3, 4)).shape == (3, 32, 32)
    img = dec.render(torch.zeros(2, 4))
    assert img.shape == (2, 32, 32) and float(img.min()) >= 0 and float(img.max()) <= 1
    mu, logvar = ImageEncoder(4, 32, 16)(torch.zeros(5, 32, 32))
    assert mu.shape == logvar.shape == (5, 4)


def test_causalvae_image_layer_interventions_and_cut():
    from dowhy_ccgm import CCGMGenerator
    labels = P.training_labels().sample(400, random_state=0)
    gen = CCGMGenerator(P.GRAPH, exogenous=P.EXOGENOUS, variant="causalvae", epochs=2,
                        hidden=8, random_state=0, progress_bar=False).fit(labels)
    net = CausalVAEImage(gen.net_, 16, 8)
    eps = torch.randn(7, 4)
    t = gen.nodes_.index("theta")
    x = gen.nodes_.index("x_shadow")
    s = net.states(eps, {t: 1.5})
    assert torch.all(s[:, t] == 1.5)
    # a cut edge: the child no longer depends on the parent
    a = net.states(eps, {t: -1.0}, {(t, x): 0.0})
    b = net.states(eps, {t: 2.0}, {(t, x): 0.0})
    torch.testing.assert_close(a[:, x], b[:, x])
    assert not torch.allclose(net.states(eps, {t: -1.0})[:, x], net.states(eps, {t: 2.0})[:, x])
    loss, parts = net.loss(torch.rand(7, 16, 16), torch.zeros(7, 4))
    assert torch.isfinite(loss) and set(parts) == {"recon", "kl", "align"}


def test_causalvae_image_needs_causalvae_layer(label_gen):
    with pytest.raises(ValueError, match="causalvae"):
        CausalVAEImage(label_gen.net_, 16, 8)


def test_label_to_image_smoke(cfg, label_gen, units):
    torch.set_num_threads(1)
    lab, img, shuffled = P.image_training_set(2000, cfg.size, 0.5, random_state=0)
    assert 0.4 < shuffled.mean() < 0.6
    # the shuffled scenes really have off-physics shadows, drawn as labelled
    w, x = shadow_physics(lab["theta"], lab["x_sun"])
    assert np.mean(np.abs(lab["x_shadow"] - x)[shuffled]) > 1.0
    assert np.allclose(lab["x_shadow"][~shuffled], x[~shuffled])
    small = P.Config.quick(size=cfg.size)
    small.decoder_epochs = 12
    model = P.fit_label_to_image("ccgm_l2i", label_gen, lab, img, small, shuffled)
    assert model.history[-1] < 0.5 * model.history[0]
    out, imgs = model.labels(units, {"theta": np.full(len(units["labels"]), 0.3)})
    assert imgs.shape == (len(units["labels"]), cfg.size, cfg.size)
    assert np.isfinite(out.to_numpy()).all()
    m = _metrics(P.measure(model, units, N_VALUES))
    assert m["do(theta): x_shadow MAE"] < IMAGE_MAE_X, m
    assert m["do(x_sun): x_shadow MAE"] < IMAGE_MAE_X, m
    assert m["do(theta): x_shadow slope"] > 2.0  # the rendered shadow follows theta


def test_save_grid_png(tmp_path):
    from PIL import Image
    grid = np.random.default_rng(0).random((2, 3, 16, 16)).astype(np.float32)
    path = P.save_grid(tmp_path / "g.png", grid, title="t", row_labels=["a", "b"])
    im = Image.open(path)
    assert im.mode == "L" and im.size[0] > 3 * 16 and im.size[1] > 2 * 16
    # upscaled tiles with the swept values under them
    labels = [["a=1", "2", "3"], ["b=1", "2", "3"]]
    big = Image.open(P.save_grid(tmp_path / "h.png", grid, row_labels=["a", "b"], scale=3,
                                 tile_labels=labels))
    assert big.size[0] >= 3 * 48 and big.size[1] >= 2 * (48 + 12)
    assert P.grid_scale(32) == 3 and P.grid_scale(64) == 2 and P.grid_scale(128) == 1
    vals = P.grid_value_labels(4)
    assert len(vals) == len(P.GRID_ROWS) and all(len(r) == 4 for r in vals)
    assert vals[0][0].startswith("theta=")


# ---------------------------------------------------------------- the command
@pytest.mark.slow
def test_cli_quick_writes_json_and_pngs(tmp_path, capsys, monkeypatch):
    from dowhy_ccgm.cli import main
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "figs"
    assert main(["pendulum", "--quick", "--out", str(out), "--no-progress"]) == 0
    js = out / "metrics.json"                     # the default next to the grids
    assert not (tmp_path / "results").exists()
    rows = json.loads(js.read_text())
    assert rows and all(set(r) == {"model", "metric", "value"} for r in rows)
    models = {r["model"] for r in rows}
    assert {"ccgm_l2l", "causalvae_l2l", "ccgm_l2i", "causalvae_l2i"} <= models
    m = {(r["model"], r["metric"]): r["value"] for r in rows}
    assert m[("ccgm_l2l", "cut theta->x_shadow, do(theta): x_shadow slope ratio")] < 0.1
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"ccgm_l2l.png", "ccgm_l2i.png", "causalvae_l2l.png", "causalvae_l2i.png"} <= set(pngs)
    captured = capsys.readouterr()
    assert "x_shadow slope ratio" in captured.out and "ccgm_l2i" in captured.out
    # log lines: one per stage and per image model, no per-epoch lines, no progress bars
    assert "[fit ccgm_l2l]" in captured.err and "ccgm_l2i: BCE" in captured.err
    assert "epoch 1:" not in captured.err and "it/s" not in captured.err


def test_cli_rejects_bad_size(capsys):
    from dowhy_ccgm.cli import main
    assert main(["pendulum", "--quick", "--size", "48"]) == 2
