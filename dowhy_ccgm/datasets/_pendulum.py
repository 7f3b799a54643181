"""The "sun pendulum" scene: closed-form labels, a fast renderer and a pixel reader.

Scene (scene units, ``x`` in ``[0, 20]``, ``y`` pointing up, ground line at ``y = -0.5``):

* a pendulum hangs from the pivot ``P = (10, 10.5)``: a thin rod of length 8 to the centre of a
  bob of radius 1.5, swung by the angle ``theta`` (radians, 0 = straight down, positive to the
  right);
* a sun (disc of radius 3) sits at ``(x_sun, 20.5)``; the light ray through the pivot makes the
  angle ``phi`` with the ground, ``x_sun = 10 + 10 cot(phi)``;
* the pendulum casts a shadow on the ground, a segment of width ``w_shadow`` centred at
  ``x_shadow``.

Causal graph: ``theta -> {w_shadow, x_shadow} <- x_sun``; ``theta`` and ``x_sun`` are exogenous
and independent.

Image coordinates (``size x size`` pixels, row 0 at the top): pixel column ``c`` covers
``x in [c, c + 1] * 20 / size`` and pixel row ``r`` covers
``y in [Y_TOP - (r + 1) h, Y_TOP - r h]`` with ``h = (Y_TOP - Y_BOTTOM) / size``,
``Y_TOP = 24`` and ``Y_BOTTOM = -1.5``. Pixels are therefore not square (x: 20 units, y: 25.5
units across the image). Background is white (1.0); rod, bob and shadow are black (0.0); the sun
is grey (:data:`SUN_GREY`).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

__all__ = [
    "LABEL_COLUMNS",
    "pendulum",
    "pendulum_labels",
    "read_pendulum",
    "render_pendulum",
    "shadow_physics",
]

LABEL_COLUMNS = ["theta", "x_sun", "w_shadow", "x_shadow"]

# --- scene geometry -------------------------------------------------------------------------
PIVOT = (10.0, 10.5)
ROD_LENGTH = 8.0  # pivot -> bob centre
BOB_RADIUS = 1.5
SUN_RADIUS = 3.0
SUN_Y = 20.5
GROUND_Y = -0.5
MIN_SHADOW_WIDTH = 3.0

# --- drawing ----------------------------------------------------------------------------------
X_LEFT, X_RIGHT = 0.0, 20.0
Y_BOTTOM, Y_TOP = -1.5, 24.0
ROD_HALF_WIDTH = 0.3
SHADOW_HALF_THICKNESS = 0.5  # the shadow band is y in [-1, 0]
SUN_GREY = 0.6

# --- original grid ----------------------------------------------------------------------------
THETA_STEPS = np.arange(-40, 44)  # theta = i * pi / 200
PHI_STEPS = np.array([j for j in range(60, 148) if j != 100])  # phi = j * pi / 200
THETA_RANGE = (THETA_STEPS[0] * np.pi / 200, THETA_STEPS[-1] * np.pi / 200)
PHI_RANGE = (PHI_STEPS[0] * np.pi / 200, PHI_STEPS[-1] * np.pi / 200)

_CHUNK_PIXELS = 2**20  # pixels processed at once (bounds memory: ~4 MiB per float32 array)
_SUN_CANDIDATES = np.linspace(-SUN_RADIUS, X_RIGHT + SUN_RADIUS, 521)  # step 0.05


# ==============================================================================================
# physics
# ==============================================================================================
def x_sun_from_phi(phi):
    """Sun position for light angle ``phi`` (radians): ``10 + 10 cot(phi)``."""
    phi = np.asarray(phi, dtype=np.float64)
    return 10.0 + 10.0 * np.cos(phi) / np.sin(phi)


def phi_from_x_sun(x_sun):
    """Light angle in ``(0, pi)`` for a sun at ``x_sun``."""
    x_sun = np.asarray(x_sun, dtype=np.float64)
    return np.arctan2(10.0, x_sun - 10.0)


def shadow_physics(theta, x_sun):
    """Closed-form shadow ``(w_shadow, x_shadow)`` for pendulum angle ``theta`` and sun ``x_sun``.

    With ``c = cot(phi) = (x_sun - 10) / 10`` the shadow end points are
    ``s1 = 10 - 11 c`` (shadow of the pivot) and
    ``s2 = 10 + 9.5 sin(theta) - (11 - 9.5 cos(theta)) c`` (shadow of the bob's far edge);
    ``x_shadow = (s1 + s2) / 2`` and ``w_shadow = max(3, |s2 - s1|)``. Vectorised, broadcasts.
    """
    theta = np.asarray(theta, dtype=np.float64)
    x_sun = np.asarray(x_sun, dtype=np.float64)
    cot = (x_sun - 10.0) / 10.0
    reach = ROD_LENGTH + BOB_RADIUS  # 9.5
    drop = PIVOT[1] - GROUND_Y  # 11
    s1 = PIVOT[0] - drop * cot
    s2 = PIVOT[0] + reach * np.sin(theta) - (drop - reach * np.cos(theta)) * cot
    w_shadow = np.maximum(MIN_SHADOW_WIDTH, np.abs(s2 - s1))
    x_shadow = 0.5 * (s1 + s2)
    return w_shadow, x_shadow


def _rng(random_state):
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    return np.random.default_rng(random_state)


def pendulum_labels(theta, x_sun, noise=0.0, random_state=None) -> pd.DataFrame:
    """Labels ``theta, x_sun, w_shadow, x_shadow`` (float64) for the given exogenous values.

    ``noise`` is the standard deviation of independent Gaussian noise added to ``w_shadow`` and
    ``x_shadow`` (after the closed form, so a noisy width can fall below 3).
    """
    noise = _check_noise(noise)
    theta, x_sun = np.broadcast_arrays(
        np.atleast_1d(np.asarray(theta, dtype=np.float64)),
        np.atleast_1d(np.asarray(x_sun, dtype=np.float64)),
    )
    theta = theta.ravel().copy()
    x_sun = x_sun.ravel().copy()
    w_shadow, x_shadow = shadow_physics(theta, x_sun)
    if noise > 0:
        rng = _rng(random_state)
        w_shadow = w_shadow + rng.normal(0.0, noise, size=w_shadow.shape)
        x_shadow = x_shadow + rng.normal(0.0, noise, size=x_shadow.shape)
    return pd.DataFrame(
        {"theta": theta, "x_sun": x_sun, "w_shadow": w_shadow, "x_shadow": x_shadow},
        columns=LABEL_COLUMNS,
    ).astype(np.float64)


# ==============================================================================================
# rendering
# ==============================================================================================
def _pixel_centres(height, width):
    xs = X_LEFT + (np.arange(width) + 0.5) * (X_RIGHT - X_LEFT) / width
    ys = Y_TOP - (np.arange(height) + 0.5) * (Y_TOP - Y_BOTTOM) / height
    return xs, ys


def _interval_coverage(centres, half_pixel, lo, hi):
    """Fraction of each pixel interval ``[c - h, c + h]`` covered by ``[lo, hi]`` (broadcast)."""
    left = np.maximum(centres - half_pixel, lo)
    right = np.minimum(centres + half_pixel, hi)
    return np.clip((right - left) / (2 * half_pixel), 0.0, 1.0)


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    if size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    return int(size)


def _check_noise(noise):
    try:
        noise = float(noise)
    except (TypeError, ValueError):
        raise ValueError(f"noise must be a non-negative number, got {noise!r}") from None
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    return noise


def render_pendulum(labels: pd.DataFrame, size: int = 64) -> np.ndarray:
    """Draw one grayscale ``size x size`` image per row of ``labels``.

    The shadow is drawn from the ``w_shadow`` / ``x_shadow`` columns (not recomputed), so labels
    produced by a generative model can be rendered as they are. Anti-aliased; returns float32
    in ``[0, 1]`` of shape ``(n, size, size)``; white background, black rod/bob/shadow, grey sun.
    Non-finite labels leave the corresponding object undrawn.
    """
    size = _check_size(size)
    if not isinstance(labels, pd.DataFrame):
        raise ValueError(f"labels must be a pandas DataFrame with columns {LABEL_COLUMNS}")
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise ValueError(f"labels is missing column(s) {missing}")
    values = labels[LABEL_COLUMNS].to_numpy(dtype=np.float64)
    n = values.shape[0]
    out = np.empty((n, size, size), dtype=np.float32)
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    with np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, n, chunk):
            out[start : start + chunk] = _render_chunk(values[start : start + chunk], size)
    return out


def _render_chunk(values, size):
    H = W = size
    f32 = np.float32
    xs, ys = _pixel_centres(H, W)
    px = (X_RIGHT - X_LEFT) / W
    py = (Y_TOP - Y_BOTTOM) / H
    aa = np.sqrt(px * py)  # anti-aliasing width for the round shapes
    X = xs.astype(f32)[None, None, :]
    Y = ys.astype(f32)[None, :, None]
    theta, x_sun, w_shadow, x_shadow = (values[:, k].astype(f32)[:, None, None] for k in range(4))
    m = values.shape[0]

    # sun: only the rows it can reach
    sun_rows = np.nonzero(np.abs(ys - SUN_Y) <= SUN_RADIUS + aa)[0]
    sun = np.zeros((m, H, W), dtype=f32)
    if sun_rows.size:
        r0, r1 = sun_rows[0], sun_rows[-1] + 1
        d = np.sqrt((X - x_sun) ** 2 + (Y[:, r0:r1] - f32(SUN_Y)) ** 2) - f32(SUN_RADIUS)
        sun[:, r0:r1] = np.nan_to_num(np.clip(f32(0.5) - d / f32(aa), 0, 1), nan=0.0)

    # rod and bob: only the rows the pendulums of this chunk can reach
    dark = np.zeros((m, H, W), dtype=f32)
    bob_y = PIVOT[1] - ROD_LENGTH * np.cos(values[:, 0])
    bob_y = bob_y[np.isfinite(bob_y)]
    if bob_y.size:
        y_lo = bob_y.min() - BOB_RADIUS - 2 * aa
        y_hi = max(bob_y.max() + BOB_RADIUS, PIVOT[1] + ROD_HALF_WIDTH) + 2 * aa
        rows = np.nonzero((ys >= y_lo) & (ys <= y_hi))[0]
    else:
        rows = np.zeros(0, dtype=int)
    if rows.size:
        r0, r1 = rows[0], rows[-1] + 1
        dx = f32(ROD_LENGTH) * np.sin(theta)
        dy = -f32(ROD_LENGTH) * np.cos(theta)
        rx = X - f32(PIVOT[0])
        ry = Y[:, r0:r1] - f32(PIVOT[1])
        t = np.clip((rx * dx + ry * dy) / f32(ROD_LENGTH**2), 0, 1)
        d_rod = np.sqrt((rx - t * dx) ** 2 + (ry - t * dy) ** 2) - f32(ROD_HALF_WIDTH)
        d_bob = np.sqrt((rx - dx) ** 2 + (ry - dy) ** 2) - f32(BOB_RADIUS)
        d = np.minimum(d_rod, d_bob)
        dark[:, r0:r1] = np.nan_to_num(np.clip(f32(0.5) - d / f32(aa), 0, 1), nan=0.0)

    # shadow: an axis-aligned box, exact pixel coverage (separable)
    half_w = np.maximum(w_shadow[:, 0, :], 0) / 2  # (m, 1)
    cov_x = _interval_coverage(
        xs.astype(f32)[None, :], f32(px / 2), x_shadow[:, 0, :] - half_w, x_shadow[:, 0, :] + half_w
    )
    cov_y = _interval_coverage(
        ys.astype(f32),
        f32(py / 2),
        f32(GROUND_Y - SHADOW_HALF_THICKNESS),
        f32(GROUND_Y + SHADOW_HALF_THICKNESS),
    )
    cov_x = np.nan_to_num(cov_x, nan=0.0)
    shadow = cov_y[None, :, None] * cov_x[:, None, :]
    np.maximum(dark, shadow, out=dark)

    img = np.minimum(f32(1) - f32(1 - SUN_GREY) * sun, f32(1) - dark)
    return np.clip(img, 0, 1)


# ==============================================================================================
# data set
# ==============================================================================================
def pendulum(
    n_samples=None,
    *,
    sampling="grid",
    size=64,
    noise=0.0,
    images=True,
    random_state=None,
):
    """The sun-pendulum data set: ``(labels, images)``.

    ``sampling="grid"`` gives the 7,308 original scenes (``theta = i pi / 200`` for
    ``i = -40..43``; ``phi = j pi / 200`` for ``j = 60..147``, ``j != 100``); with ``n_samples``
    a subset of that size is drawn without replacement. ``sampling="random"`` draws ``theta``
    and ``phi`` uniformly over the grid's ranges (``n_samples`` required). ``noise`` is the sd
    of Gaussian noise on ``w_shadow`` and ``x_shadow``, added before drawing so images and labels
    agree. ``images=False`` returns ``None`` for the images.
    """
    if sampling not in ("grid", "random"):
        raise ValueError(f"sampling must be 'grid' or 'random', got {sampling!r}")
    size = _check_size(size)
    noise = _check_noise(noise)
    if n_samples is not None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
            raise ValueError(f"n_samples must be a positive integer or None, got {n_samples!r}")
        if n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer or None, got {n_samples!r}")
        n_samples = int(n_samples)
    rng = _rng(random_state)

    if sampling == "grid":
        theta_g, phi_g = np.meshgrid(
            THETA_STEPS * np.pi / 200, PHI_STEPS * np.pi / 200, indexing="ij"
        )
        theta, phi = theta_g.ravel(), phi_g.ravel()
        if n_samples is not None:
            if n_samples > theta.size:
                raise ValueError(
                    f"n_samples must be at most {theta.size} with sampling='grid', got {n_samples}"
                )
            idx = np.sort(rng.choice(theta.size, size=n_samples, replace=False))
            theta, phi = theta[idx], phi[idx]
    else:
        if n_samples is None:
            raise ValueError("n_samples must be given with sampling='random'")
        theta = rng.uniform(*THETA_RANGE, size=n_samples)
        phi = rng.uniform(*PHI_RANGE, size=n_samples)

    labels = pendulum_labels(theta, x_sun_from_phi(phi), noise=noise, random_state=rng)
    imgs = render_pendulum(labels, size=size) if images else None
    return labels, imgs


# ==============================================================================================
# reading labels back from pixels
# ==============================================================================================
def read_pendulum(images: np.ndarray, threshold: float = 0.5) -> pd.DataFrame:
    """Measure ``theta, x_sun, w_shadow, x_shadow`` back from images by plain image analysis.

    ``images``: array ``(n, H, W)`` (or one ``(H, W)`` image) with values in ``[0, 1]``, ``H, W
    >= 16``, in the layout of :func:`render_pendulum` (white background). The image is split into
    horizontal bands by scene height: sun band (``y > 15``), pendulum band (``0.5 <= y <= 15``)
    and ground band (``y < 0.5``).

    * ``x_sun``: sun pixels are those darker than ``(1 + SUN_GREY) / 2`` in the sun band; their
      count per column gives the disc's vertical chord at each column, and the centre is the
      least-squares fit of a radius-3 disc's chord profile (grid search, step 0.05, refined by a
      parabola). This stays accurate when the disc is cut by the image border.
    * ``theta``: pixels darker than ``threshold`` in the pendulum band (rod + bob, symmetric
      about the rod axis) have their darkness-weighted centroid on the rod axis, so
      ``theta = atan2(cx - 10, 10.5 - cy)`` with ``(cx, cy)`` that centroid (the centroid is
      not the bob centre, but its direction from the pivot is ``theta``).
    * shadow: per column, the darkness (``1 - value``) of the darkest ground-band pixel; columns
      darker than ``threshold`` form runs (gaps of one column are bridged) and the longest run is
      the shadow. After subtracting the background level (10% quantile of the columns), the
      darkness summed over the run (two columns either side included) divided by the run's
      median darkness gives ``w_shadow``; the darkness centroid gives ``x_shadow``. A shadow cut
      by the image border is measured as drawn (the visible part).

    A field is NaN for an image in which no pixels of the corresponding object are found.
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"images must have shape (n, H, W), got {arr.shape}")
    n, H, W = arr.shape
    if H < 16 or W < 16:
        raise ValueError(f"images must be at least 16x16 pixels, got {H}x{W}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    out = np.full((n, 4), np.nan)
    chunk = max(1, _CHUNK_PIXELS // (H * W))
    for start in range(0, n, chunk):
        out[start : start + chunk] = _read_chunk(arr[start : start + chunk], threshold)
    return pd.DataFrame(out, columns=LABEL_COLUMNS)


def _read_chunk(arr, threshold):
    # (np.einsum instead of @ below: small products, and BLAS threads thrash on busy machines)
    arr = np.asarray(arr, dtype=np.float32)
    arr = np.where(np.isnan(arr), np.float32(1), np.clip(arr, 0, 1))
    n, H, W = arr.shape
    xs, ys = _pixel_centres(H, W)
    px = (X_RIGHT - X_LEFT) / W
    darkness = 1.0 - arr
    out = np.full((n, 4), np.nan)

    # --- sun ------------------------------------------------------------------------------
    # column profile of the grey sun pixels = vertical chord lengths of the disc; least-squares
    # fit of the disc centre by a grid search over candidate centres, refined by a parabola.
    sun_band = ys > 15.0
    sun_mask = arr[:, sun_band, :] < (1.0 + SUN_GREY) / 2
    py = (Y_TOP - Y_BOTTOM) / H
    obs = sun_mask.sum(axis=1).astype(np.float64) * py  # (n, W) chord length per column
    cand = _SUN_CANDIDATES
    model = 2 * np.sqrt(np.maximum(SUN_RADIUS**2 - (xs[None, :] - cand[:, None]) ** 2, 0.0))
    sse = (model**2).sum(axis=1)[None, :] - 2 * np.einsum("iw,cw->ic", obs, model)  # + const
    k = np.clip(np.argmin(sse, axis=1), 1, cand.size - 2)
    rows = np.arange(n)
    s0, s1, s2 = sse[rows, k - 1], sse[rows, k], sse[rows, k + 1]
    curv = s0 - 2 * s1 + s2
    shift = np.where(curv > 0, 0.5 * (s0 - s2) / np.where(curv > 0, curv, 1.0), 0.0)
    step = cand[1] - cand[0]
    ok = (obs > 0).any(axis=1)
    out[ok, 1] = (cand[k] + np.clip(shift, -1, 1) * step)[ok]

    # --- pendulum ---------------------------------------------------------------------------
    pend_band = (ys >= 0.5) & (ys <= 15.0)
    d = darkness[:, pend_band, :]
    w = np.where(d > threshold, d, 0).astype(np.float64)
    wsum = w.sum(axis=(1, 2))
    ok = wsum > 0
    cx = np.einsum("iw,w->i", w.sum(axis=1), xs)[ok] / wsum[ok]
    cy = np.einsum("ih,h->i", w.sum(axis=2), ys[pend_band])[ok] / wsum[ok]
    out[ok, 0] = np.arctan2(cx - PIVOT[0], PIVOT[1] - cy)

    # --- shadow -----------------------------------------------------------------------------
    col_dark = darkness[:, ys < 0.5, :].max(axis=1).astype(np.float64)  # (n, W)
    mask = col_dark > threshold
    mask[:, 1:-1] |= mask[:, :-2] & mask[:, 2:]  # bridge one-column gaps
    # label the runs of each row, find the longest one
    starts = mask & ~np.pad(mask, ((0, 0), (1, 0)))[:, :-1]
    run_id = np.cumsum(starts, axis=1) * mask  # 0 = background, 1.. = runs
    n_ids = W + 1
    lengths = np.bincount(
        (np.arange(n)[:, None] * n_ids + run_id).ravel(), minlength=n * n_ids
    ).reshape(n, n_ids)
    lengths[:, 0] = 0
    best = np.argmax(lengths, axis=1)  # (n,), 0 when no dark column
    in_run = (run_id == best[:, None]) & (best[:, None] > 0)
    # widen by two columns either side to catch anti-aliased / blurred ends
    sel = in_run.copy()
    for shift in (1, 2):
        sel[:, shift:] |= in_run[:, :-shift]
        sel[:, :-shift] |= in_run[:, shift:]
    # background level (noise) and the darkness of a fully covered column (a band thinner than
    # a pixel row, or a blurred one, is lighter than 1): the width is the area over the peak
    background = np.quantile(col_dark, 0.1, axis=1)[:, None]
    col_dark = np.clip(col_dark - background, 0.0, None)
    prof = np.where(sel, col_dark, 0.0)
    mass = prof.sum(axis=1)
    ok = (mass > 0) & in_run.any(axis=1)
    peak = np.ones(n)
    if ok.any():
        peak[ok] = np.nanmedian(np.where(in_run[ok], col_dark[ok], np.nan), axis=1)
    ok &= peak > 0
    out[ok, 2] = mass[ok] / peak[ok] * px
    out[ok, 3] = np.einsum("iw,w->i", prof, xs)[ok] / mass[ok]
    return out
