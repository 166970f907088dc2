"""Atomic file writes, inter-process locks and hashing, shared by every module.

A reader never sees a half-written file under its final name: data goes to a temporary
file in the same directory, is flushed and fsynced, then renamed over the target
(``os.replace`` is atomic on POSIX and Windows). Temporary files are created with
``os.open(..., 0o666)`` so the process umask applies exactly as for any other new file;
nothing here reads or changes the umask (a process-wide setting an embedding app owns).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_directory",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "digest",
    "file_lock",
    "md5_bytes",
    "sha256_bytes",
    "sha256_file",
]

_TEMP_ATTEMPTS = 100


def _new_temp_file(target: Path, suffix: str) -> Path:
    """Create an empty, uniquely named file beside ``target`` with the umask's usual mode."""
    for _ in range(_TEMP_ATTEMPTS):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {target}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Use it for writers that insist on a filename (``onnx.save``, ``model.save``).
    The temp name keeps the target's suffix (or ``suffix``) because some writers
    pick a format from it. On any exception the temporary file is removed and the
    target is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(target, suffix if suffix is not None else target.suffix)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; swap it in for ``path`` on success.

    Directories cannot be renamed over non-empty ones, so an old ``path`` is first renamed
    aside, then the new one renamed in, then the old one removed. On any exception the
    temporary directory is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir(0o777)  # the umask applies, as for any new directory
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as pretty, key-sorted JSON atomically (NaN is refused)."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], *, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``path`` (a ``.lock`` file) for the block.

    Writers that read-modify-write a shared file (the manifest, the data cache) take it;
    readers never do, so a read-only folder stays readable.

    Raises:
        TimeoutError: another process held the lock for ``timeout`` seconds.
    """
    from filelock import FileLock, Timeout

    lock_path = Path(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=timeout):
            yield
    except Timeout as exc:
        raise TimeoutError(
            f"{lock_path} has been locked by another process for {timeout:g} s; if none is running, "
            "delete the lock file and retry"
        ) from exc


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def digest(path: str | os.PathLike[str]) -> tuple[int, str]:
    """``(size_bytes, sha256)`` of a file, or of a directory tree (a SavedModel, a web bundle).

    A directory's sha256 is over its sorted ``relative/path sha256`` lines, so it changes when
    any file's name or content does.
    """
    path = Path(path)
    if path.is_file():
        return path.stat().st_size, sha256_file(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = "".join(f"{p.relative_to(path).as_posix()} {sha256_file(p)}\n" for p in files)
    return sum(p.stat().st_size for p in files), sha256_bytes(listing.encode())
