"""The package's shipped data files: read one (a clear error when the installation lacks
it) and check its sha256."""
from __future__ import annotations

import hashlib
import importlib.resources
import io

import pandas as pd

__all__ = ["read_packaged_csv"]

_PACKAGE = "dowhy_ccgm.datasets"


def read_packaged_csv(resource: str, sha256: str, verify_checksum: bool) -> pd.DataFrame:
    """``data/<name>.csv`` of the package as a DataFrame; with ``verify_checksum`` its
    sha256 must equal ``sha256``."""
    name = resource.rsplit("/", 1)[-1]
    try:
        raw = importlib.resources.files(_PACKAGE).joinpath(resource).read_bytes()
    except FileNotFoundError as err:  # pragma: no cover - broken installation
        raise FileNotFoundError(
            f"The packaged data file {resource!r} of {_PACKAGE!r} is missing; "
            "reinstall dowhy_ccgm (the CSV ships as package data).") from err
    if verify_checksum:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256:
            raise ValueError(f"{name} has sha256 {digest}, expected {sha256}.")
    return pd.read_csv(io.BytesIO(raw))
