"""sample_to_parquet: the files do not depend on the number of workers or on the backend,
the rows follow the model (marginals, interventions, a removed edge), memory stays flat in
the number of rows, nothing already on disk is overwritten unasked."""
import os
import subprocess
import sys
import textwrap

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("pyarrow")

from dowhy_ccgm import CCGMGenerator  # noqa: E402
from dowhy_ccgm.parquet import sample_to_parquet  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def gen():
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(np.int64)
    c = rng.choice(["a", "b", "c"], n)
    y = 1.0 * t + x + (c == "b") + 0.3 * rng.normal(size=n)
    df = pd.DataFrame({"x": x, "t": t, "c": c, "y": y})
    g = nx.DiGraph([("x", "t"), ("x", "y"), ("t", "y"), ("c", "y")])
    return CCGMGenerator(g, epochs=40, hidden=16, progress_bar=False,
                         random_state=0).fit(df)


def test_same_files_for_one_or_two_workers_and_model_rows(gen, tmp_path):
    kw = dict(partition_rows=50_000, chunk_rows=20_000, random_state=3, progress_bar=False)
    a = sample_to_parquet(gen, tmp_path / "a", 120_000, n_jobs=1, **kw)
    sample_to_parquet(gen, tmp_path / "b", 120_000, n_jobs=2, **kw)
    assert [os.path.basename(p) for p in a] == ["part-00000.parquet", "part-00001.parquet",
                                                "part-00002.parquet"]
    da, db = pd.read_parquet(tmp_path / "a"), pd.read_parquet(tmp_path / "b")
    pd.testing.assert_frame_equal(da, db)
    assert len(da) == 120_000 and [len(pd.read_parquet(p)) for p in a] == [50_000] * 2 + [20_000]
    # dtypes of the training data, and the model's law (vs its own in-memory sample)
    s = gen.sample(120_000, random_state=1)
    assert list(da.columns) == list(s.columns) and da["t"].dtype == np.int64
    assert abs(da["y"].mean() - s["y"].mean()) < 0.03
    assert abs(da["t"].mean() - s["t"].mean()) < 0.01
    assert set(da["c"]) == {"a", "b", "c"}
    # partitions differ (each has its own seed)
    p0, p1 = pd.read_parquet(a[0]), pd.read_parquet(a[1])
    assert not np.allclose(p0["y"].to_numpy()[:1000], p1["y"].to_numpy()[:1000])


def test_interventions_and_removed_edges(gen, tmp_path):
    sample_to_parquet(gen, tmp_path / "do", 40_000, interventions={"t": 1}, random_state=0,
                      progress_bar=False)
    d = pd.read_parquet(tmp_path / "do")
    assert (d["t"] == 1).all()
    cut = gen.remove_edge("x", "t", random_state=0)
    sample_to_parquet(cut, tmp_path / "cut", 40_000, random_state=0, progress_bar=False)
    c = pd.read_parquet(tmp_path / "cut")
    # t independent of x after removing x -> t (the data's correlation is about 0.6)
    assert abs(np.corrcoef(c["x"], c["t"])[0, 1]) < 0.03
    assert abs(np.corrcoef(gen.sample(40_000, random_state=0)[["x", "t"]].T)[0, 1]) > 0.4


def test_existing_files_are_kept_unless_overwrite(gen, tmp_path):
    out = tmp_path / "out"
    sample_to_parquet(gen, out, 1000, partition_rows=300, random_state=0, progress_bar=False)
    before = pd.read_parquet(out)
    with pytest.raises(FileExistsError, match="already holds 4 part-"):
        sample_to_parquet(gen, out, 500, random_state=1, progress_bar=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out), before)     # nothing lost
    (out / "notes.txt").write_text("mine")
    files = sample_to_parquet(gen, out, 500, random_state=1, overwrite=True,
                              progress_bar=False)
    assert len(files) == 1 and len(pd.read_parquet(files[0])) == 500
    # (the _SUCCESS marker says the data set is complete; readers skip it)
    assert sorted(os.listdir(out)) == ["_SUCCESS", "notes.txt", "part-00000.parquet"]


def test_nothing_is_lost_or_mixed(gen, tmp_path, monkeypatch):
    """A folder name with glob characters is a name; bad arguments are refused before
    anything is touched; a run that fails in its third partition leaves the old data set
    whole (it left new partitions 0-1 beside old 2-3)."""
    import dowhy_ccgm.parquet as P
    out = tmp_path / "runs[1]"
    sample_to_parquet(gen, out, 1200, partition_rows=300, random_state=0, progress_bar=False)
    before = pd.read_parquet(out)
    other = tmp_path / "runs1"
    sample_to_parquet(gen, other, 300, random_state=5, progress_bar=False)
    with pytest.raises(FileExistsError, match="already holds 1 part-"):   # not runs[1]'s 4
        sample_to_parquet(gen, other, 300, random_state=5, progress_bar=False)
    with pytest.raises(ValueError, match="n_jobs must be a nonzero integer"):
        sample_to_parquet(gen, out, 600, random_state=1, overwrite=True, n_jobs=0,
                          progress_bar=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out), before)
    real = P._write_partition

    def failing(g, path, *args):
        if path.endswith("part-00002.parquet"):
            raise RuntimeError("disk full")
        return real(g, path, *args)
    monkeypatch.setattr(P, "_write_partition", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        sample_to_parquet(gen, out, 1200, partition_rows=300, random_state=1, overwrite=True,
                          progress_bar=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out), before)        # the old set, whole
    assert sorted(os.listdir(out)) == ["_SUCCESS"] + [f"part-0000{k}.parquet"
                                                      for k in range(4)]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_samples=0), ValueError, "n_samples must be a positive integer"),
    (dict(partition_rows=2.5), ValueError, "partition_rows"),
    (dict(chunk_rows=True), ValueError, "chunk_rows"),
    (dict(interventions={"zz": 1}), KeyError, "zz"),
    (dict(interventions=[("t", 1)]), ValueError, "interventions must be a non-empty dict"),
])
def test_bad_arguments(gen, tmp_path, kwargs, error, match):
    args = dict(n_samples=100, progress_bar=False)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        sample_to_parquet(gen, tmp_path / "x", args.pop("n_samples"), **args)
    assert not list((tmp_path).glob("x/part-*"))


def test_unfitted_and_file_path_refused(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        sample_to_parquet(CCGMGenerator(nx.DiGraph([("a", "b")])), tmp_path / "y", 10)


def test_memory_flat_in_the_number_of_rows(gen, tmp_path):
    """Peak RSS of a fresh process writing 3M rows is within 60 MB of one writing 0.3M rows
    (the generated data alone is 3M x 4 columns = 96 MB in memory)."""
    path = tmp_path / "model.ccgm"
    gen.save(path)
    script = textwrap.dedent("""
        import resource, sys, torch
        torch.set_num_threads(1)
        from dowhy_ccgm import CCGMGenerator
        from dowhy_ccgm.parquet import sample_to_parquet
        g = CCGMGenerator.load(sys.argv[1])
        sample_to_parquet(g, sys.argv[2], int(sys.argv[3]), partition_rows=1_000_000,
                          random_state=0, progress_bar=False)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    peaks = []
    for rows in (300_000, 3_000_000):
        out = subprocess.run([sys.executable, "-c", script, str(path),
                              str(tmp_path / f"m{rows}"), str(rows)],
                             capture_output=True, text=True, check=True)
        peaks.append(int(out.stdout.split()[-1]) / 1024)       # MB (ru_maxrss is KiB)
    assert len(pd.read_parquet(tmp_path / "m3000000", columns=["t"])) == 3_000_000
    assert peaks[1] - peaks[0] < 60, peaks


def test_relative_path_with_workers_started_elsewhere(gen, tmp_path, monkeypatch):
    """Workers reused from an earlier call keep their own working directory: a relative
    path is resolved in the caller's."""
    first = tmp_path / "first"
    first.mkdir()
    monkeypatch.chdir(first)
    sample_to_parquet(gen, "warm", 2000, partition_rows=1000, n_jobs=2, random_state=0,
                      progress_bar=False)                       # starts the workers here
    second = tmp_path / "second"
    second.mkdir()
    monkeypatch.chdir(second)
    files = sample_to_parquet(gen, "rel", 2000, partition_rows=1000, n_jobs=2,
                              random_state=0, progress_bar=False)
    assert files == [str(second / "rel" / f"part-0000{k}.parquet") for k in range(2)]
    assert len(pd.read_parquet(second / "rel")) == 2000
