"""``manifest.json``: one entry per artifact, merged atomically as formats are exported."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from mnistedge._io import atomic_write_json, sha256_bytes, sha256_file

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "digest",
    "library_versions",
    "read_manifest",
    "update_manifest",
]

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    """The manifest in ``out_dir``, or an empty one when there is none yet.

    Raises:
        ValueError: the file is not a schema-1 mnistedge manifest (the message says how to fix it).
    """
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "artifacts": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}). Delete it and export again.") from exc
    if (
        not isinstance(manifest, dict)
        or manifest.get("schema_version") != SCHEMA_VERSION
        or not isinstance(manifest.get("artifacts"), dict)
    ):
        raise ValueError(
            f"{path} is not a schema_version {SCHEMA_VERSION} mnistedge manifest. "
            "Delete it (or export into another --out directory) and export again."
        )
    return manifest


def update_manifest(out_dir: str | Path, entry: dict[str, Any]) -> Path:
    """Add or replace the entry for ``entry['file']``, keeping every other entry; write atomically."""
    manifest = read_manifest(out_dir)
    manifest["artifacts"][entry["file"]] = entry
    return atomic_write_json(Path(out_dir) / MANIFEST_NAME, manifest)


def library_versions(*distributions: str) -> dict[str, str]:
    """Installed versions of the named distributions (plus mnistedge), for the manifest."""
    versions = {}
    for name in ("mnistedge", *distributions):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def digest(path: Path) -> tuple[int, str]:
    """``(size_bytes, sha256)`` of a file, or of a directory tree (a SavedModel).

    A directory's sha256 is over its sorted ``relative/path sha256`` lines, so it changes when
    any file's name or content does.
    """
    if path.is_file():
        return path.stat().st_size, sha256_file(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = "".join(f"{p.relative_to(path).as_posix()} {sha256_file(p)}\n" for p in files)
    return sum(p.stat().st_size for p in files), sha256_bytes(listing.encode())
