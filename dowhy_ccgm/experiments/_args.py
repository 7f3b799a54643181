"""Argument types of the ``ccgm`` commands: checked by argparse before any fitting, with
argparse's own error format (``ccgm mindset: error: argument --n-bootstrap: ...``)."""
from __future__ import annotations

import argparse
import json
import os

__all__ = ["positive_int", "non_negative_int", "seed", "n_jobs", "output_file",
           "output_dir", "resolve_n_jobs", "output_paths", "write_json"]


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    v = _int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def non_negative_int(text: str) -> int:
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {v}")
    return v


def seed(text: str) -> int:
    v = _int(text)
    if not 0 <= v < 2 ** 32:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**32 - 1], got {v}")
    return v


def n_jobs(text: str) -> int:
    """joblib's convention: a positive number of workers, or -1 for all cores (-2: all but
    one, ...); 0 is refused."""
    v = _int(text)
    if v == 0:
        raise argparse.ArgumentTypeError("must be a positive number of workers or -1 (all "
                                         "cores), as in joblib; got 0")
    return v


def resolve_n_jobs(v: int) -> int:
    """joblib's meaning of a negative ``n_jobs``, as a worker count."""
    if v > 0:
        return v
    return max((os.cpu_count() or 1) + 1 + v, 1)


def output_file(text: str) -> str:
    """A file path that can be written: its folder exists and is writable, and the path is
    not a folder (checked up front, so that a run is never lost at the end)."""
    path = os.path.abspath(text)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"the folder of {text!r} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text!r} cannot be written (permission denied)")
    return text


def output_dir(text: str) -> str:
    """A folder that exists and is writable, or can be created."""
    path = os.path.abspath(text)
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.access(probe, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} cannot be created or written "
                                         "(permission denied)")
    return text


def output_paths(args, default_out: str, json_name: str) -> tuple:
    """``(folder, JSON file)`` of a command: ``--out`` (default ``default_out``) and
    ``--json`` (default ``OUT/json_name``)."""
    out = getattr(args, "out", None) or default_out
    return out, getattr(args, "json", None) or os.path.join(out, json_name)


def write_json(path: str, obj) -> None:
    """``obj`` as indented JSON at ``path``, its folder created."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=2)
