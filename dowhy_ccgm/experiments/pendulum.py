"""``ccgm pendulum``: the paper's image experiments (Figs. 5-11), measured.

Models (all on the sun-pendulum scene, graph ``theta, x_sun -> w_shadow, x_shadow``):

``ccgm_l2l``
    Label-to-label CCGM: ``CCGMGenerator(variant="ccgm")`` on the 4 labels of the original
    (deterministic) grid, ``diag(A) = [1, 1, 0, 0]``. Unit-level counterfactuals abduct the
    exogenous latents exactly; the shadow variables carry no noise, as in the data.
``causalvae_l2l``
    The CausalVAE layer ``z = A^T z + eps`` (``variant="causalvae"``, ELBO), unit-level
    counterfactuals with the encoder's ``eps`` (``abduction="encoder"``).
``ccgm_l2i``
    Label-to-image CCGM: the causal layer of ``ccgm_l2l`` (pre-trained, frozen) followed by a
    convolutional decoder from the 4 node states to the image. The decoder is trained on the
    causal layer's outputs for scenes of which a share (``shuffle_fraction``) had their shadow
    set by intervention (``do(w_shadow, x_shadow)`` with values drawn from the shadow's
    marginal): the renderer must render the states it is given, also off the observational
    manifold, where edge removal sends it.
``ccgm_l2i_obs``
    Ablation: the same decoder trained on observational scenes only.
``causalvae_l2i``
    CausalVAE on images: conv encoder ``x -> eps``, the causal layer of ``causalvae_l2l``
    (frozen), conv decoder; trained on the same images as ``ccgm_l2i``. Unit-level sweeps start
    from a true image (encode, set the latent, propagate, decode), as in the paper's Figs. 5-6.
    The node states are pulled to the labels by CausalVAE's conditional prior ``N(u, I)``;
    ``causalvae_l2i_w30`` pulls 30 times harder (``N(u, I / 30)``).
``oracle_image``
    The true counterfactual scenes rendered and read back: the floor of the pixel read-out.

Measurements: generated images are read back with :func:`read_pendulum`; label models are
measured on their labels. See :func:`measure` for the metric definitions.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time

import networkx as nx
import numpy as np
import pandas as pd
import torch

GRAPH = nx.DiGraph([("theta", "w_shadow"), ("theta", "x_shadow"),
                    ("x_sun", "w_shadow"), ("x_sun", "x_shadow")])
EXOGENOUS = ["theta", "x_sun"]
COLUMNS = ["theta", "x_sun", "w_shadow", "x_shadow"]
SWEEP_RANGES = {"theta": (-0.55, 0.6), "x_sun": (2.5, 15.5), "x_shadow": (5.0, 15.0)}
FRAME_MARGIN = 0.3  # starting units: every swept shadow lies within [0.3, 19.7]
OTHER = {"theta": "x_sun", "x_sun": "theta"}


@dataclasses.dataclass
class Config:
    """Sizes of the experiment. ``quick()`` is the smoke run, ``Config()`` the default."""

    size: int = 64                 # image side (16, 32, 64 or 128)
    n_images: int = 3000           # training images (grid scenes)
    label_epochs: int = 60         # label-to-label models
    decoder_epochs: int = 12       # label-to-image decoder
    vae_epochs: int = 12           # CausalVAE image model
    hidden: int = 32               # mask width of the label models
    patience: int = 0              # early stopping of the label models (0: off)
    image_base: int = 64           # channels of the 4x4 feature maps
    image_batch: int = 64
    shuffle_fraction: float = 0.5  # share of training scenes with do(shadow) (ccgm_l2i)
    n_units: int = 16              # starting units of the unit-level sweeps
    n_values: int = 8              # values per sweep
    ablation: bool = True          # also fit ccgm_l2i_obs
    # CausalVAE image models: weight of the conditional prior N(u, I / w) on the node states;
    # 1 is CausalVAE's N(u, I) ("causalvae_l2i"), others give "causalvae_l2i_w<w>"
    causalvae_align: tuple = (1.0, 30.0)
    seed: int = 0

    @classmethod
    def quick(cls, size: int = 32, seed: int = 0) -> "Config":
        return cls(size=size, n_images=2000, label_epochs=10, decoder_epochs=12, vae_epochs=10,
                   hidden=16, image_base=32, n_units=6, n_values=5, ablation=False,
                   causalvae_align=(1.0,), seed=seed)


logger = logging.getLogger(__name__)


def _log(msg, verbose=True):
    if verbose:
        logger.info(msg)


class _EpochBar:
    """A tqdm bar over a model's epochs (gated like every bar of the package), and one log
    line with the last loss when the model is done."""

    def __init__(self, name, epochs, loss, progress):
        from .._progress import progress_bar, show_progress
        self.name, self.loss, self.t0 = name, loss, time.time()
        self.bar = progress_bar(total=epochs, desc=f"fit {name}", leave=False,
                                disable=not show_progress(progress))

    def __call__(self, epoch, value):
        self.bar.update(1)
        self.bar.set_postfix({self.loss: f"{value:.1f}"}, refresh=False)
        logger.debug("  %s epoch %d: %s %.1f (%.0fs)", self.name, epoch + 1, self.loss, value,
                     time.time() - self.t0)

    def close(self, history):
        self.bar.close()
        if history:
            logger.info("  %s: %s %.1f after %d epochs (%.0fs)", self.name, self.loss,
                        history[-1], len(history), time.time() - self.t0)


# ==============================================================================================
# data
# ==============================================================================================
def training_labels() -> pd.DataFrame:
    """The 7,308 scenes of the original grid (deterministic shadows)."""
    from ..datasets import pendulum
    labels, _ = pendulum(None, sampling="grid", images=False)
    return labels


def image_training_set(n_images, size, shuffle_fraction, random_state):
    """Grid scenes with their images; a share ``shuffle_fraction`` of them had their shadow
    set by intervention: ``(w_shadow, x_shadow)`` taken from another random scene.

    Returns ``(labels, images, shuffled)`` (``shuffled``: bool mask of the intervened scenes).
    """
    from ..datasets import pendulum, render_pendulum
    rng = np.random.default_rng(random_state)
    labels, _ = pendulum(n_images, sampling="grid", images=False, random_state=rng)
    labels = labels.reset_index(drop=True)
    k = int(round(shuffle_fraction * len(labels)))
    shuffled = np.zeros(len(labels), dtype=bool)
    if k:
        idx = rng.choice(len(labels), size=k, replace=False)
        donors = rng.choice(len(labels), size=k, replace=True)
        for c in ("w_shadow", "x_shadow"):
            labels.loc[idx, c] = labels[c].to_numpy()[donors]
        shuffled[idx] = True
    images = render_pendulum(labels, size)
    return labels, images, shuffled


def _in_frame(w, x):
    return (x - w / 2 >= FRAME_MARGIN) & (x + w / 2 <= 20 - FRAME_MARGIN)


def sweep_values(node, n_values):
    lo, hi = SWEEP_RANGES[node]
    return np.linspace(lo, hi, n_values)


def starting_units(n_units, n_values, size, random_state):
    """Random scenes whose swept counterfactual shadows all stay in the frame (so they can be
    read from pixels). Returns ``(labels, images)``."""
    from ..datasets import pendulum_labels, render_pendulum, shadow_physics
    from ..datasets._pendulum import PHI_RANGE, THETA_RANGE, x_sun_from_phi
    rng = np.random.default_rng(random_state)
    th_sw, xs_sw = sweep_values("theta", n_values), sweep_values("x_sun", n_values)
    keep_t, keep_x = [], []
    while len(keep_t) < n_units:
        t = rng.uniform(*THETA_RANGE)
        xs = float(x_sun_from_phi(rng.uniform(*PHI_RANGE)))
        ok = _in_frame(*shadow_physics(t, xs)) & _in_frame(*shadow_physics(th_sw, xs)).all() \
            & _in_frame(*shadow_physics(t, xs_sw)).all()
        if ok:
            keep_t.append(t)
            keep_x.append(xs)
    labels = pendulum_labels(np.array(keep_t), np.array(keep_x))
    return labels, render_pendulum(labels, size)


# ==============================================================================================
# models
# ==============================================================================================
def fit_label_model(labels, variant, cfg: Config, progress=False):
    """Label-to-label model: ``CCGMGenerator`` on the 4 labels, ``diag(A) = [1, 1, 0, 0]``."""
    from .. import CCGMGenerator
    # (w_shadow = max(3, |s2 - s1|) has a floor at 3 that the deterministic mechanisms
    # of the paper's variant make themselves: plain continuous labels)
    return CCGMGenerator(GRAPH, exogenous=EXOGENOUS, variant=variant, hidden=cfg.hidden,
                         column_types={c: "continuous" for c in GRAPH.nodes},
                         epochs=cfg.label_epochs, random_state=cfg.seed, progress_bar=progress,
                         n_threads=1, patience=cfg.patience).fit(labels)


def _states(gen, df) -> torch.Tensor:
    """Node states of ``gen``'s causal layer for natural-unit labels (standardized values, in
    the model's node order)."""
    u, _ = gen.schema_.to_arrays(df[list(gen.feature_names_in_)])
    return torch.as_tensor(u)


class LabelModel:
    """A label-to-label generator seen through the experiment's interface."""

    images = False

    def __init__(self, name, gen, abduction):
        self.name, self.gen, self.abduction = name, gen, abduction
        self._cut = {}

    def _generator(self, removed):
        if removed is None:
            return self.gen
        if removed not in self._cut:
            self._cut[removed] = self.gen.remove_edge(*removed, how="mean")
        return self._cut[removed]

    def labels(self, units, do, removed=None):
        """Counterfactual labels of ``units`` under ``do`` ({node: array per row}) with the
        edge ``removed`` (parent, child) cut. Returns ``(labels, images or None)``."""
        g = self._generator(removed)
        with torch.no_grad():
            out = g.counterfactual(units["labels"], do, abduction=self.abduction)
        return out.reset_index(drop=True)[COLUMNS], None


class LabelToImage(LabelModel):
    """Causal layer of a label model + an :class:`~dowhy_ccgm.nn._image.ImageDecoder`."""

    images = True

    def __init__(self, name, gen, decoder, abduction="exact"):
        super().__init__(name, gen, abduction)
        self.decoder = decoder

    def render_labels(self, df):
        return self.decoder.render(_states(self.gen, df)).numpy()

    def labels(self, units, do, removed=None):
        from ..datasets import read_pendulum
        lab, _ = super().labels(units, do, removed)
        imgs = self.render_labels(lab)
        return read_pendulum(imgs), imgs


def fit_label_to_image(name, gen, labels, images, cfg: Config, shuffled=None, progress=False):
    """Train the decoder on the causal layer's outputs for the training scenes: the unit's
    exogenous values pass the layer, the shadow comes from the layer's mechanisms, or from
    ``do(w_shadow, x_shadow)`` for the ``shuffled`` scenes."""
    from ..nn._image import ImageDecoder, train_image_decoder
    lab = labels.reset_index(drop=True)
    with torch.no_grad():
        out = gen.counterfactual(lab, {}, abduction="exact").reset_index(drop=True)
        if shuffled is not None and shuffled.any():
            do = {c: lab.loc[shuffled, c].to_numpy() for c in ("w_shadow", "x_shadow")}
            out.loc[shuffled, :] = gen.counterfactual(lab.loc[shuffled], do,
                                                      abduction="exact").to_numpy()
    states = _states(gen, out)
    torch.manual_seed(cfg.seed)
    dec = ImageDecoder(states.shape[1], cfg.size, cfg.image_base)
    bar = _EpochBar(name, cfg.decoder_epochs, "BCE", progress)
    hist = train_image_decoder(
        dec, states, torch.as_tensor(images), epochs=cfg.decoder_epochs,
        batch_size=cfg.image_batch, generator=torch.Generator().manual_seed(cfg.seed),
        callback=bar)
    bar.close(hist)
    model = LabelToImage(name, gen, dec)
    model.history = hist
    return model


class CausalVAEImageModel:
    """CausalVAE on images (:class:`~dowhy_ccgm.nn._image.CausalVAEImage`): sweeps start from
    the unit's true image (encode ``eps``, set the latent state, propagate, decode)."""

    images = True

    def __init__(self, name, gen, net, parent_means):
        self.name, self.gen, self.net = name, gen, net
        self.parent_means = parent_means  # node index -> mean state (edge removal "mean")
        self.nodes = list(gen.nodes_)

    def labels(self, units, do, removed=None):
        from ..datasets import read_pendulum
        x = torch.as_tensor(units["images"])
        n = x.shape[0]
        with torch.no_grad():
            eps = self.net.abduct(x)
            interventions = {}
            for node, v in do.items():
                spec = self.gen.schema_.by_name[node]
                val = np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))
                interventions[self.nodes.index(node)] = torch.as_tensor(
                    spec.standardize(val), dtype=torch.float32)
            overrides = {}
            if removed is not None:
                j, i = self.nodes.index(removed[0]), self.nodes.index(removed[1])
                overrides[(j, i)] = self.parent_means[j]
            s = self.net.states(eps, interventions, overrides)
            imgs = self.net.decoder.render(s).numpy()
        return read_pendulum(imgs), imgs


def fit_causalvae_image(gen, labels, images, cfg: Config, label_weight=1.0, progress=False):
    """CausalVAE on images with the causal layer of ``gen`` (variant="causalvae"), frozen.
    ``label_weight`` scales the conditional prior's pull of the node states to the labels
    (1: CausalVAE's ``N(u, I)``)."""
    from ..nn._image import CausalVAEImage, train_causalvae_image
    name = "causalvae_l2i" if label_weight == 1 else f"causalvae_l2i_w{label_weight:g}"
    torch.manual_seed(cfg.seed)
    net = CausalVAEImage(gen.net_, cfg.size, cfg.image_base)
    u = _states(gen, labels.reset_index(drop=True))
    x = torch.as_tensor(images)
    bar = _EpochBar(name, cfg.vae_epochs, "-ELBO", progress)
    hist = train_causalvae_image(
        net, x, u, epochs=cfg.vae_epochs, batch_size=cfg.image_batch,
        label_weight=label_weight, generator=torch.Generator().manual_seed(cfg.seed),
        callback=bar)
    bar.close(hist)
    with torch.no_grad():
        s = net.states(net.abduct(x))
    means = {j: float(s[:, j].mean()) for j in range(s.shape[1])}
    model = CausalVAEImageModel(name, gen, net, means)
    model.history = hist
    return model


class OracleImage:
    """The true counterfactual scenes, rendered and read back (the read-out floor)."""

    images = True
    name = "oracle_image"

    def __init__(self, size, parent_means):
        self.size = size
        self.parent_means = parent_means  # natural-unit means used when an edge is removed

    def labels(self, units, do, removed=None):
        from ..datasets import read_pendulum, render_pendulum, shadow_physics
        lab = units["labels"].reset_index(drop=True).copy()
        n = len(lab)
        for node, v in do.items():
            lab[node] = np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))
        exo = {c: lab[c].to_numpy() for c in EXOGENOUS}
        for child in ("w_shadow", "x_shadow"):
            if child in do:
                continue
            par = dict(exo)
            if removed is not None and removed[1] == child:
                par[removed[0]] = np.full(n, self.parent_means[removed[0]])
            w, x = shadow_physics(par["theta"], par["x_sun"])
            lab[child] = w if child == "w_shadow" else x
        imgs = render_pendulum(lab, self.size)
        return read_pendulum(imgs), imgs


# ==============================================================================================
# measurements
# ==============================================================================================
def _tile(units, n_values):
    """Repeat every unit ``n_values`` times (value-major: row = value * n_units + unit)."""
    reps = {"labels": pd.concat([units["labels"]] * n_values, ignore_index=True)}
    if units.get("images") is not None:
        reps["images"] = np.concatenate([units["images"]] * n_values)
    return reps


def run_sweep(model, units, node, values, removed=None):
    """Unit-level sweep ``do(node = v)`` for every ``v``: returns ``(labels, images)`` with rows
    ordered value-major, plus the columns ``unit`` and ``value``."""
    n_units = len(units["labels"])
    tiled = _tile(units, len(values))
    v = np.repeat(np.asarray(values, dtype=np.float64), n_units)
    lab, imgs = model.labels(tiled, {node: v}, removed)
    lab = lab.copy()
    lab["unit"] = np.tile(np.arange(n_units), len(values))
    lab["value"] = v
    return lab, imgs


def _slopes(lab, col):
    """Per-unit least-squares slope of ``col`` on the swept value (NaN-safe)."""
    out = []
    for _, g in lab.groupby("unit"):
        ok = np.isfinite(g[col].to_numpy())
        if ok.sum() >= 2:
            out.append(np.polyfit(g["value"].to_numpy()[ok], g[col].to_numpy()[ok], 1)[0])
    return np.asarray(out)


def _mae(a, b):
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else float("nan")


def measure(model, units, n_values) -> list:
    """All metrics of one model, as rows ``{"model", "metric", "value"}``.

    For each exogenous ``s`` in (theta, x_sun) and its sibling ``o``, sweeping ``do(s = v)``
    from every starting unit:

    * ``do(s): s set error``: |generated (read) s - v|;
    * ``do(s): x_shadow MAE`` / ``w_shadow MAE``: |generated shadow - shadow_physics(generated
      theta, generated x_sun)| (the physics of the scene the model drew);
    * ``do(s): o change``: |o under do - o of the model's no-intervention reconstruction|;
    * ``do(s): x_shadow slope`` / ``w_shadow abs slope``: mean over units of the least-squares
      slope of the shadow on ``v`` (signed for x_shadow; absolute for w_shadow, which is not
      monotone in theta);
    * ``cut s->x_shadow: ...``: the same sweep from the model with the edge ``s -> x_shadow``
      removed (``remove_edge(..., how="mean")``), and the ratios
      ``x_shadow slope ratio = mean|slope after| / mean|slope before|`` (should be < 0.1) and
      ``w_shadow slope ratio`` (should stay near 1);
    * ``do(x_shadow): theta change`` / ``x_sun change``: child interventions must not move
      the exogenous nodes (vs the reconstruction); ``do(x_shadow): x_shadow set error``;
    * ``recon MAE <col>``: no-intervention reconstruction of the starting units.
    """
    from ..datasets import shadow_physics
    rows = []

    def add(metric, value):
        rows.append({"model": model.name, "metric": metric, "value": float(value)})

    recon, _ = model.labels(units, {}, None)
    recon = recon.reset_index(drop=True)
    truth = units["labels"].reset_index(drop=True)
    for c in COLUMNS:
        add(f"recon MAE {c}", _mae(recon[c], truth[c]))
    rec_tiled = pd.concat([recon] * n_values, ignore_index=True)
    for s in EXOGENOUS:
        o = OTHER[s]
        vals = sweep_values(s, n_values)
        lab, _ = run_sweep(model, units, s, vals)
        w_p, x_p = shadow_physics(lab["theta"].to_numpy(), lab["x_sun"].to_numpy())
        add(f"do({s}): {s} set error", _mae(lab[s], lab["value"]))
        add(f"do({s}): x_shadow MAE", _mae(lab["x_shadow"], x_p))
        add(f"do({s}): w_shadow MAE", _mae(lab["w_shadow"], w_p))
        add(f"do({s}): {o} change", _mae(lab[o], rec_tiled[o]))
        sx, sw = _slopes(lab, "x_shadow"), _slopes(lab, "w_shadow")
        add(f"do({s}): x_shadow slope", np.mean(sx))
        add(f"do({s}): w_shadow abs slope", np.mean(np.abs(sw)))
        cut, _ = run_sweep(model, units, s, vals, removed=(s, "x_shadow"))
        w_c, _ = shadow_physics(cut["theta"].to_numpy(), cut["x_sun"].to_numpy())
        cx, cw = _slopes(cut, "x_shadow"), _slopes(cut, "w_shadow")
        add(f"cut {s}->x_shadow, do({s}): x_shadow slope", np.mean(cx))
        add(f"cut {s}->x_shadow, do({s}): x_shadow slope ratio",
            np.mean(np.abs(cx)) / max(np.mean(np.abs(sx)), 1e-12))
        add(f"cut {s}->x_shadow, do({s}): w_shadow slope ratio",
            np.mean(np.abs(cw)) / max(np.mean(np.abs(sw)), 1e-12))
        add(f"cut {s}->x_shadow, do({s}): w_shadow MAE", _mae(cut["w_shadow"], w_c))
    vals = sweep_values("x_shadow", n_values)
    lab, _ = run_sweep(model, units, "x_shadow", vals)
    add("do(x_shadow): x_shadow set error", _mae(lab["x_shadow"], lab["value"]))
    for o in EXOGENOUS:
        add(f"do(x_shadow): {o} change", _mae(lab[o], rec_tiled[o]))
    return rows


def metrics_table(rows) -> pd.DataFrame:
    """Rows -> a metric x model table (models in the order they appear)."""
    df = pd.DataFrame(rows)
    models = list(dict.fromkeys(df["model"]))
    metrics = list(dict.fromkeys(df["metric"]))
    return df.pivot(index="metric", columns="model", values="value").loc[metrics, models]


# ==============================================================================================
# image grids
# ==============================================================================================
GRID_ROWS = [("do(theta)", "theta", None), ("cut theta->x_shadow", "theta", ("theta", "x_shadow")),
             ("do(x_sun)", "x_sun", None), ("cut x_sun->x_shadow", "x_sun", ("x_sun", "x_shadow")),
             ("do(x_shadow)", "x_shadow", None)]


def sweep_grid(model, unit, n_values, size):
    """Images ``(rows, n_values, size, size)`` of the grid rows :data:`GRID_ROWS` for one
    starting unit (label models are drawn with ``render_pendulum``)."""
    from ..datasets import render_pendulum
    out = []
    for _, node, removed in GRID_ROWS:
        lab, imgs = run_sweep(model, unit, node, sweep_values(node, n_values), removed)
        if imgs is None:
            imgs = render_pendulum(lab[COLUMNS], size)
        out.append(imgs)
    return np.stack(out)


def grid_value_labels(n_values) -> list:
    """The swept value of every tile of :func:`sweep_grid` (one row per :data:`GRID_ROWS`)."""
    return [[f"{node}={v:.3g}" if c == 0 else f"{v:.3g}"
             for c, v in enumerate(sweep_values(node, n_values))]
            for _, node, _ in GRID_ROWS]


def grid_scale(size: int, min_tile: int = 96) -> int:
    """Integer upscaling so that a tile is at least ``min_tile`` pixels wide (readable
    quick grids of 32x32 images)."""
    return max(1, -(-int(min_tile) // int(size)))


def save_grid(path, grid, title=None, row_labels=None, scale=1, tile_labels=None):
    """Write a grid of grayscale images ``(rows, cols, H, W)`` in [0, 1] as a PNG; optional
    ``row_labels`` (left) and ``tile_labels`` (``rows x cols`` strings under the tiles: the
    swept values)."""
    from PIL import Image, ImageDraw
    rows, cols, H, W = grid.shape
    caption = 12 if tile_labels else 0
    pad, left, top = 2, (118 if row_labels else 0), (16 if title else 0)
    th, tw = H * scale, W * scale
    canvas = Image.new("L", (left + cols * (tw + pad) + pad,
                             top + rows * (th + pad + caption) + pad), 255)
    draw = ImageDraw.Draw(canvas)
    for r in range(rows):
        y0 = top + pad + r * (th + pad + caption)
        for c in range(cols):
            tile = Image.fromarray(np.clip(grid[r, c] * 255, 0, 255).astype(np.uint8), "L")
            if scale != 1:
                tile = tile.resize((tw, th), Image.NEAREST)
            x0 = left + pad + c * (tw + pad)
            canvas.paste(tile, (x0, y0))
            draw.rectangle([x0 - 1, y0 - 1, x0 + tw, y0 + th], outline=160)
            if tile_labels:
                draw.text((x0 + 1, y0 + th + 1), str(tile_labels[r][c]), fill=0)
        if row_labels:
            draw.text((4, y0 + th // 2 - 5), row_labels[r], fill=0)
    if title:
        draw.text((4, 2), title, fill=0)
    canvas.save(path, optimize=True)
    return path


# ==============================================================================================
# the experiment
# ==============================================================================================
def run_experiment(cfg: Config, out_dir=None, verbose=True, progress=None):
    """Fit all models, measure them, optionally write the PNG grids. Returns
    ``(rows, models, timings)``. Runs on one torch thread. ``verbose`` logs each stage (the
    ``dowhy_ccgm.experiments.pendulum`` logger, level INFO); ``progress`` shows tqdm bars
    over the epochs (``None`` follows ``dowhy.gcm.config.show_progress_bars``)."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_experiment(cfg, out_dir, verbose, progress)
    finally:
        torch.set_num_threads(n_threads)


def _run_experiment(cfg, out_dir, verbose, progress):
    timings = {}
    t_all = time.time()

    def stage(name, t0):
        timings[name] = time.time() - t0
        _log(f"[{name}] {timings[name]:.1f}s", verbose)

    t0 = time.time()
    labels = training_labels()
    img_labels, images, shuffled = image_training_set(cfg.n_images, cfg.size,
                                                      cfg.shuffle_fraction, cfg.seed)
    units_lab, units_img = starting_units(cfg.n_units, cfg.n_values, cfg.size, cfg.seed + 1)
    units = {"labels": units_lab, "images": units_img}
    stage("data", t0)

    t0 = time.time()
    gen = fit_label_model(labels, "ccgm", cfg, progress)
    stage("fit ccgm_l2l", t0)
    t0 = time.time()
    gen_vae = fit_label_model(labels, "causalvae", cfg, progress)
    stage("fit causalvae_l2l", t0)

    models = [LabelModel("ccgm_l2l", gen, "exact"),
              LabelModel("causalvae_l2l", gen_vae, "encoder")]

    t0 = time.time()
    models.append(fit_label_to_image("ccgm_l2i", gen, img_labels, images, cfg, shuffled,
                                     progress=progress))
    stage("fit ccgm_l2i", t0)
    if cfg.ablation:
        t0 = time.time()
        obs_lab, obs_img, _ = image_training_set(cfg.n_images, cfg.size, 0.0, cfg.seed)
        models.append(fit_label_to_image("ccgm_l2i_obs", gen, obs_lab, obs_img, cfg, None,
                                         progress=progress))
        stage("fit ccgm_l2i_obs", t0)
    for w in cfg.causalvae_align:
        t0 = time.time()
        models.append(fit_causalvae_image(gen_vae, img_labels, images, cfg, label_weight=w,
                                          progress=progress))
        stage(f"fit {models[-1].name}", t0)
    models.append(OracleImage(cfg.size, {c: float(labels[c].mean()) for c in EXOGENOUS}))

    t0 = time.time()
    rows = []
    for m in models:
        rows.extend(measure(m, units, cfg.n_values))
    stage("measure", t0)

    if out_dir is not None:
        t0 = time.time()
        os.makedirs(out_dir, exist_ok=True)
        one = {"labels": units_lab.iloc[:1].reset_index(drop=True), "images": units_img[:1]}
        for m in models:
            grid = sweep_grid(m, one, cfg.n_values, cfg.size)
            save_grid(os.path.join(out_dir, f"{m.name}.png"), grid,
                      title=f"{m.name}: one starting unit, swept values under the tiles",
                      row_labels=[r[0] for r in GRID_ROWS], scale=grid_scale(cfg.size),
                      tile_labels=grid_value_labels(cfg.n_values))
        stage("grids", t0)
    timings["total"] = time.time() - t_all
    return rows, models, timings


#: where ``ccgm pendulum`` writes by default (relative to the working directory)
DEFAULT_OUT = os.path.join("results", "pendulum")


class _StderrHandler(logging.Handler):
    """The command's log lines on whatever ``sys.stderr`` is when they are written."""

    def emit(self, record):
        sys.stderr.write(self.format(record) + "\n")
        sys.stderr.flush()


def add_arguments(p):
    p.add_argument("--quick", action="store_true",
                   help="smoke run: tiny models, 32x32 images (under 2 minutes)")
    from ._args import output_dir, output_file, positive_int, seed
    p.add_argument("--out", metavar="DIR", type=output_dir, default=None,
                   help=f"write the PNG image grids (paper Figs. 5-11) and metrics.json here "
                        f"(default {DEFAULT_OUT})")
    p.add_argument("--json", metavar="PATH", type=output_file,
                   help="write the measurements (model, metric, value) here instead of "
                        "OUT/metrics.json")
    p.add_argument("--seed", type=seed, default=0, help="seed of every step (default 0)")
    p.add_argument("--size", type=positive_int, default=None,
                   help="image side: 16, 32, 64 or 128 (default 64; 32 with --quick)")
    p.add_argument("--no-progress", action="store_false", dest="progress",
                   help="hide the progress bars")
    p.add_argument("--quiet", action="store_true",
                   help="no log lines (the stages, each model's final loss)")


def run(args) -> int:
    from ..nn._image import check_image_size
    from ._args import output_paths, write_json
    size = args.size if args.size is not None else (32 if args.quick else 64)
    try:
        size = check_image_size(size)
    except ValueError as exc:
        print(f"ccgm pendulum: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "quiet", False) and not any(
            isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
        logger.setLevel(logging.INFO)
    out, json_path = output_paths(args, DEFAULT_OUT, "metrics.json")
    cfg = Config.quick(size=size, seed=args.seed) if args.quick else Config(size=size,
                                                                            seed=args.seed)
    rows, _, timings = run_experiment(cfg, out_dir=out,
                                      verbose=not getattr(args, "quiet", False),
                                      progress=None if getattr(args, "progress", True)
                                      else False)
    table = metrics_table(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 200,
                           "display.max_columns", 20):
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"total time {timings['total']:.0f}s")
    write_json(json_path, rows)
    print(f"wrote {json_path} and the image grids in {out}")
    return 0
