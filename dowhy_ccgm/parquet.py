"""Generation beyond memory: a generated, intervened or de-biased data set of any size
written as Parquet partitions.

:func:`sample_to_parquet` splits ``n_samples`` rows into partitions of ``partition_rows``;
partition ``k`` is generated from the ``k``-th child of
``numpy.random.SeedSequence(random_state)`` alone, in chunks of ``chunk_rows`` rows
(one Parquet row group each), so

* the files are the same whatever the number of workers or the joblib backend (local
  processes, or a Dask cluster under ``joblib.parallel_backend("dask")``);
* a worker holds one chunk at a time: memory does not grow with ``n_samples`` or with the
  partition size.

Every argument is checked before anything is written. The partitions are written into a
fresh staging folder inside ``path`` (its name starts with a dot, which Parquet readers
skip) and moved into ``path`` only when every one of them is complete; then the old
partitions that the new data set does not replace are removed and a ``_SUCCESS`` marker is
written (the Hadoop convention; readers skip names that start with ``_``). A run that
fails leaves ``path`` as it was. Read the result with ``pandas.read_parquet(path)`` or
``dask.dataframe.read_parquet(path)``.

Needs ``pyarrow`` (``pip install "dowhy-ccgm[parquet]"``).
"""
from __future__ import annotations

import glob
import numbers
import os
import shutil
import uuid

import numpy as np

__all__ = ["sample_to_parquet"]

PARTITION_ROWS = 1_000_000
CHUNK_ROWS = 262_144


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:      # pragma: no cover - depends on the environment
        raise ImportError("sample_to_parquet needs pyarrow: pip install "
                          "'dowhy-ccgm[parquet]' (or pip install pyarrow)") from err
    return pa, pq


def _positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < 1:
        raise ValueError(f"sample_to_parquet: {name} must be a positive integer, got "
                         f"{value!r}")
    return int(value)


def _write_partition(gen, path: str, n_rows: int, seed: np.random.SeedSequence,
                     interventions, chunk_rows: int) -> str:
    """Partition ``path``: ``n_rows`` rows from ``seed``, one row group per chunk."""
    pa, pq = _pyarrow()
    n_chunks = -(-n_rows // chunk_rows)
    chunk_seeds = seed.generate_state(n_chunks, dtype=np.uint32)
    tmp = f"{path}.tmp-{os.getpid()}"
    writer, schema = None, None
    try:
        for k in range(n_chunks):
            rows = min(chunk_rows, n_rows - k * chunk_rows)
            s = int(chunk_seeds[k]) % (2**31 - 1)
            frame = gen.intervene(interventions, n_samples=rows, random_state=s) \
                if interventions else gen.sample(rows, random_state=s)
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table)
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def sample_to_parquet(generator, path, n_samples: int, *, interventions=None,
                      partition_rows: int = PARTITION_ROWS, chunk_rows: int = CHUNK_ROWS,
                      random_state=None, n_jobs: int = 1, overwrite: bool = False,
                      progress_bar=None) -> list:
    """Write ``n_samples`` generated rows of ``generator`` as Parquet partitions.

    Parameters
    ----------
    generator : fitted CCGMGenerator
        Edited or not (``remove_edge`` first for a de-biased data set).
    path : str or path-like
        A directory; it is created. Files ``part-00000.parquet``, ... are written into it.
    n_samples : int
        Total rows (any size: one chunk is in memory at a time per worker).
    interventions : dict, optional
        Generate under ``do(interventions)`` (as :meth:`CCGMGenerator.intervene`).
    partition_rows : int, default 1,000,000
        Rows per file (the last file holds the rest).
    chunk_rows : int, default 262,144
        Rows generated at once, written as one Parquet row group.
    random_state : None, int or numpy SeedSequence
        Partition ``k`` uses child ``k`` of ``SeedSequence(random_state)``.
    n_jobs : int, default 1
        joblib workers, one partition per task (under ``joblib.parallel_backend("dask")``
        the cluster's workers; ``path`` must then be storage they all reach).
    overwrite : bool, default False
        The directory must not hold ``part-*.parquet`` files already, unless ``overwrite``
        (they are then replaced once the new data set is complete; other files are left
        alone).
    progress_bar : bool, optional
        ``None`` follows ``dowhy.gcm.config.show_progress_bars``.

    Returns
    -------
    list of str
        The written files (absolute paths), in partition order.
    """
    from joblib import Parallel, delayed

    from ._progress import progress_bar as bar, show_progress
    from .ate import seed_sequence
    _pyarrow()
    if not hasattr(generator, "model_"):
        raise ValueError("sample_to_parquet: the generator is not fitted; call fit first")
    n_samples = _positive_int(n_samples, "n_samples")
    partition_rows = _positive_int(partition_rows, "partition_rows")
    chunk_rows = _positive_int(chunk_rows, "chunk_rows")
    if interventions is not None and (not isinstance(interventions, dict) or not interventions):
        raise ValueError("sample_to_parquet: interventions must be a non-empty dict "
                         f"{{node: value}} or None, got {interventions!r}")
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, numbers.Integral) \
            or n_jobs == 0:
        raise ValueError(f"sample_to_parquet: n_jobs must be a nonzero integer (joblib's "
                         f"convention: -1 for every core), got {n_jobs!r}")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise ValueError(f"sample_to_parquet: overwrite must be True or False, got "
                         f"{overwrite!r}")
    if interventions:   # checked once here, not after the workers start
        generator.intervene(interventions, n_samples=1, random_state=0)
    seeds = seed_sequence(random_state).spawn(-(-n_samples // partition_rows))
    # absolute: a worker process (reused, or on a cluster) has its own working directory
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"sample_to_parquet: path {path!r} exists and is not a directory")
    # (escaped: a folder named "runs[1]" is a name, not a glob pattern)
    old = sorted(glob.glob(os.path.join(glob.escape(path), "part-*.parquet")))
    if old and not overwrite:
        raise FileExistsError(f"sample_to_parquet: {path!r} already holds {len(old)} "
                              "part-*.parquet file(s); pass overwrite=True to replace them or "
                              "choose an empty directory")
    os.makedirs(path, exist_ok=True)
    n_parts = len(seeds)
    names = [f"part-{k:05d}.parquet" for k in range(n_parts)]
    staging = os.path.join(path, f".staging-{uuid.uuid4().hex}")
    os.makedirs(staging)
    try:
        tasks = (delayed(_write_partition)(
            generator, os.path.join(staging, names[k]),
            min(partition_rows, n_samples - k * partition_rows), seeds[k], interventions,
            chunk_rows) for k in range(n_parts))
        results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
        list(bar(results, total=n_parts, disable=not show_progress(progress_bar),
                 desc="Writing Parquet partitions"))
        # every partition is written: swap the new data set in
        marker = os.path.join(path, "_SUCCESS")
        if os.path.exists(marker):
            os.remove(marker)
        for name in names:
            os.replace(os.path.join(staging, name), os.path.join(path, name))
        for f in old:
            if os.path.basename(f) not in names:
                os.remove(f)
        with open(marker, "w"):
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [os.path.join(path, name) for name in names]
