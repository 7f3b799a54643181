"""Tests of the sun-pendulum scene: physics, renderer, reader and the data-set function."""

import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm.datasets._pendulum import (
    LABEL_COLUMNS,
    pendulum,
    pendulum_labels,
    read_pendulum,
    render_pendulum,
    shadow_physics,
)

PIVOT = np.array([10.0, 10.5])


def _geometric_shadow(theta, phi):
    """Shadow end points by projecting the pivot and the bob's far edge along the light ray."""
    x_sun = 10.0 + 10.0 / np.tan(phi)
    sun = np.stack([x_sun, np.full_like(x_sun, 20.5)], axis=1)
    ray = PIVOT[None, :] - sun  # light travels from the sun through the pivot
    edge = PIVOT[None, :] + 9.5 * np.stack([np.sin(theta), -np.cos(theta)], axis=1)

    def to_ground(point):
        t = (-0.5 - point[:, 1]) / ray[:, 1]
        return point[:, 0] + t * ray[:, 0]

    s1 = to_ground(np.broadcast_to(PIVOT, edge.shape))
    s2 = to_ground(edge)
    return x_sun, s1, s2


def _inside(labels):
    half = labels.w_shadow / 2
    return (labels.x_shadow - half >= 0) & (labels.x_shadow + half <= 20)


def test_closed_forms_match_ray_projection():
    rng = np.random.default_rng(0)
    theta = rng.uniform(-0.7, 0.7, 2000)
    phi = rng.uniform(0.9, 2.35, 2000)
    x_sun, s1, s2 = _geometric_shadow(theta, phi)
    labels = pendulum_labels(theta, x_sun)
    assert list(labels.columns) == LABEL_COLUMNS
    assert (labels.dtypes == np.float64).all()
    np.testing.assert_allclose(labels.x_shadow, (s1 + s2) / 2, atol=1e-9)
    np.testing.assert_allclose(labels.w_shadow, np.maximum(3.0, np.abs(s2 - s1)), atol=1e-9)
    # the trigonometric form of the width
    w_trig = np.maximum(3.0, 9.5 * np.abs(np.cos(phi - theta)) / np.sin(phi))
    np.testing.assert_allclose(labels.w_shadow, w_trig, atol=1e-9)
    w, x = shadow_physics(theta, x_sun)
    np.testing.assert_allclose(w, labels.w_shadow)
    np.testing.assert_allclose(x, labels.x_shadow)
    assert (labels.w_shadow == 3.0).any() and (labels.w_shadow > 3.0).any()


def test_grid_size_and_ranges():
    labels, images = pendulum(images=False)
    assert images is None
    assert len(labels) == 7308
    assert len(labels.drop_duplicates(["theta", "x_sun"])) == 7308
    assert labels.theta.nunique() == 84 and labels.x_sun.nunique() == 87
    ranges = labels.agg(["min", "max"]).round(2)
    assert tuple(ranges.x_sun) == (0.90, 17.27)
    assert tuple(ranges.x_shadow) == (2.01, 19.61)
    assert tuple(ranges.w_shadow) == (3.00, 12.58)
    assert tuple(ranges.theta) == (round(-40 * np.pi / 200, 2), round(43 * np.pi / 200, 2))
    assert not np.isclose(labels.x_sun, 10.0).any()  # phi = pi/2 (j = 100) is left out


def test_images_shape_dtype_range_and_layout():
    labels, images = pendulum(12, sampling="random", size=32, random_state=1)
    assert images.shape == (12, 32, 32) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert (images[:, int(9 / 25.5 * 32), :3] == 1.0).all()  # white background (x < 1, y = 15)
    assert (images == 0.0).any(axis=(1, 2)).all()  # black objects
    assert np.isclose(images, 0.6, atol=1e-3).any(axis=(1, 2)).all()  # grey sun

    # one hand-placed scene at 64 px: x in [0, 20] -> columns, y in [-1.5, 24] -> rows (top = 24)
    scene = pd.DataFrame(
        {"theta": [0.0], "x_sun": [4.0], "w_shadow": [6.0], "x_shadow": [14.0]}
    )
    img = render_pendulum(scene, size=64)[0]

    def pixel(x, y):
        return img[int((24.0 - y) / 25.5 * 64), int(x / 20.0 * 64)]

    assert pixel(10.0, 2.5) == 0.0  # bob centre, straight below the pivot
    assert pixel(10.0, 7.0) < 0.5 and pixel(11.0, 7.0) == 1.0  # thin rod
    assert np.isclose(pixel(4.0, 20.5), 0.6)  # sun centre
    assert pixel(14.0, -0.5) == 0.0 and pixel(11.5, -0.5) == 0.0  # shadow is drawn from labels
    assert pixel(10.0, 16.0) == 1.0 and pixel(16.0, 20.5) == 1.0 and pixel(10.0, -0.5) == 1.0
    assert pixel(17.5, -0.5) == 1.0


def test_shadow_is_drawn_from_the_label_columns():
    labels = pendulum_labels([0.2, 0.2], [12.0, 12.0])
    labels.loc[1, "x_shadow"] += 3.0
    labels.loc[1, "w_shadow"] += 1.0
    images = render_pendulum(labels, size=64)
    diff = np.abs(images[0] - images[1]) > 0
    rows = np.nonzero(diff.any(axis=1))[0]
    assert rows.size > 0 and rows.min() >= 60  # only the ground band changes
    back = read_pendulum(images)
    np.testing.assert_allclose(back.x_shadow, labels.x_shadow, atol=0.2)
    np.testing.assert_allclose(back.w_shadow, labels.w_shadow, atol=0.2)


def test_reader_accuracy_on_rendered_scenes():
    labels, images = pendulum(500, sampling="random", size=64, random_state=0)
    back = read_pendulum(images)
    assert list(back.columns) == LABEL_COLUMNS and len(back) == 500
    assert not back.isna().any().any()
    err = (back - labels).abs()
    inside = _inside(labels)
    assert inside.sum() > 400
    assert err.x_shadow[inside].mean() < 0.5
    assert err.w_shadow[inside].mean() < 0.5
    assert err.x_sun.mean() < 0.5
    assert err.theta.mean() < 0.05
    # the reader is not trivially constant: it tracks the labels
    for col in LABEL_COLUMNS:
        assert np.corrcoef(back[col][inside], labels[col][inside])[0, 1] > 0.99


def test_reader_other_sizes_and_blank_images():
    labels, images = pendulum(50, sampling="random", size=28, random_state=2)
    back = read_pendulum(images)
    inside = _inside(labels)
    assert (back - labels).abs()[inside].mean().max() < 0.5
    single = read_pendulum(images[0])  # one (H, W) image
    assert len(single) == 1 and np.allclose(single.iloc[0], back.iloc[0])

    blank = read_pendulum(np.ones((3, 20, 24)))
    assert blank.isna().all().all() and blank.shape == (3, 4)
    with pytest.raises(ValueError, match="16"):
        read_pendulum(np.ones((2, 8, 8)))
    with pytest.raises(ValueError, match="images"):
        read_pendulum(np.ones((2, 2, 32, 32)))


def test_reader_copes_with_blur_and_noise():
    labels, images = pendulum(200, sampling="random", size=64, random_state=4)
    kernel = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    blurred = np.apply_along_axis(np.convolve, 1, images, kernel, "same")
    blurred = np.apply_along_axis(np.convolve, 2, blurred, kernel, "same")
    noisy = np.clip(blurred + np.random.default_rng(0).normal(0, 0.05, blurred.shape), 0, 1)
    back = read_pendulum(noisy)
    inside = _inside(labels)
    err = (back - labels).abs()[inside].mean()
    assert err.x_shadow < 0.5 and err.w_shadow < 0.5 and err.x_sun < 0.5 and err.theta < 0.05


def test_noise_has_the_requested_sd_and_is_drawn():
    rng = np.random.default_rng(5)
    theta = rng.uniform(-0.6, 0.6, 20000)
    x_sun = rng.uniform(1, 17, 20000)
    clean = pendulum_labels(theta, x_sun)
    noisy = pendulum_labels(theta, x_sun, noise=0.1, random_state=0)
    pd.testing.assert_series_equal(noisy.theta, clean.theta)
    pd.testing.assert_series_equal(noisy.x_sun, clean.x_sun)
    for col in ("w_shadow", "x_shadow"):
        d = noisy[col] - clean[col]
        assert abs(d.std() - 0.1) < 0.01
        assert abs(d.mean()) < 0.01
    dw, dx = noisy.w_shadow - clean.w_shadow, noisy.x_shadow - clean.x_shadow
    assert abs(np.corrcoef(dw, dx)[0, 1]) < 0.05

    # noise is added before drawing: images show the noisy labels
    labels, images = pendulum(200, sampling="random", noise=1.0, random_state=6)
    truth = pendulum_labels(labels.theta, labels.x_sun)
    back = read_pendulum(images)
    inside = _inside(labels)
    assert (back.x_shadow - labels.x_shadow).abs()[inside].mean() < 0.1
    assert (back.x_shadow - truth.x_shadow).abs()[inside].mean() > 0.5


def test_random_state_reproducibility():
    a_lab, a_img = pendulum(30, sampling="random", size=32, noise=0.1, random_state=3)
    b_lab, b_img = pendulum(30, sampling="random", size=32, noise=0.1, random_state=3)
    c_lab, _ = pendulum(30, sampling="random", size=32, noise=0.1, random_state=4)
    pd.testing.assert_frame_equal(a_lab, b_lab)
    np.testing.assert_array_equal(a_img, b_img)
    assert not np.allclose(a_lab.values, c_lab.values)

    g1, _ = pendulum(100, random_state=7, images=False)
    g2, _ = pendulum(100, random_state=7, images=False)
    g3, _ = pendulum(100, random_state=8, images=False)
    pd.testing.assert_frame_equal(g1, g2)
    assert len(g1.drop_duplicates()) == 100
    assert not g1.equals(g3)
    full, _ = pendulum(images=False)
    assert len(g1.merge(full, on=LABEL_COLUMNS)) == 100  # a subset of the grid

    # random sampling covers the grid's ranges
    r, _ = pendulum(3000, sampling="random", images=False, random_state=0)
    assert r.theta.min() >= -40 * np.pi / 200 and r.theta.max() <= 43 * np.pi / 200
    assert r.x_sun.min() >= 0.89 and r.x_sun.max() <= 17.28
    assert r.x_sun.min() < 1.5 and r.x_sun.max() > 16.0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"size": 8}, "size"),
        ({"size": 64.0}, "size"),
        ({"sampling": "lattice"}, "sampling"),
        ({"noise": -0.1}, "noise"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 7309}, "n_samples"),
        ({"n_samples": None, "sampling": "random"}, "n_samples"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        pendulum(**{"images": False, **kwargs})


def test_bad_arguments_of_helpers():
    with pytest.raises(ValueError, match="noise"):
        pendulum_labels([0.0], [5.0], noise=-1)
    with pytest.raises(ValueError, match="size"):
        render_pendulum(pendulum_labels([0.0], [5.0]), size=10)
    with pytest.raises(ValueError, match="w_shadow"):
        render_pendulum(pd.DataFrame({"theta": [0.0], "x_sun": [5.0], "x_shadow": [3.0]}))
