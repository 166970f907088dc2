"""``manifest.json``: what each exported artifact is, one entry per file, beside the artifacts.

One module reads, validates, merges and writes it:

* writers (``update_manifest``) read-merge-write under an inter-process file lock
  (``.manifest.json.lock`` beside it), and write atomically, so concurrent exports into one
  folder keep every entry;
* readers (``read_manifest``, ``manifest_entry``) take no lock: a model in a read-only
  folder loads, and a reader sees either the old or the new file, never half of one.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from mnistedge.core.env import capture_env
from mnistedge.core.io import atomic_write_json, file_lock

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "manifest_entry",
    "read_manifest",
    "update_manifest",
    "validate_manifest",
]

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".manifest.json.lock"
SCHEMA_VERSION = 1  # fields are only ever added; a reader of version 1 reads them all


def _empty() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "artifacts": {}}


def validate_manifest(doc: Any, path: Path) -> dict[str, Any]:
    """Return ``doc`` if it is a schema-1 manifest whose entries are objects; else ``ValueError``."""
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        raise ValueError(
            f"{path} is not a schema_version {SCHEMA_VERSION} mnistedge manifest (schema_version "
            f"{version!r}). Delete it (or export into another --out directory) and export again."
        )
    artifacts = doc.get("artifacts")
    if not isinstance(artifacts, dict):
        raise ValueError(
            f"{path}: 'artifacts' must be an object of file name -> entry. Delete it and export again."
        )
    for name, entry in artifacts.items():
        if not isinstance(entry, dict):
            raise ValueError(
                f"{path}: artifacts[{name!r}] is a {type(entry).__name__}, not an object. "
                "Delete the manifest and export again."
            )
    return doc


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest in ``folder``, or an empty one when there is none yet (no lock taken).

    Raises:
        ValueError: the file is not valid JSON or not a schema-1 manifest (the message says the fix).
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty()
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}). Delete it and export again.") from exc
    return validate_manifest(doc, path)


def update_manifest(folder: str | Path, entry: dict[str, Any]) -> Path:
    """Add or replace the entry for ``entry['file']``, keeping every other entry.

    Read, merge and the atomic write happen under the folder's manifest lock, so another
    process updating the same manifest at the same time cannot drop this entry or its own.
    The top-level ``env`` records the machine of the latest update.
    """
    folder = Path(folder)
    with file_lock(folder / LOCK_NAME):
        manifest = read_manifest(folder)
        manifest["artifacts"][entry["file"]] = entry
        manifest["env"] = capture_env().to_dict()
        return atomic_write_json(folder / MANIFEST_NAME, manifest)


def manifest_entry(model_path: str | Path, *, strict: bool) -> dict[str, Any] | None:
    """The entry for ``model_path`` in the manifest beside it; None when there is none.

    Args:
        strict: raise ``ValueError`` on an unreadable manifest; otherwise warn and return None.
    """
    model_path = Path(model_path)
    if not (model_path.parent / MANIFEST_NAME).is_file():
        return None
    try:
        return read_manifest(model_path.parent)["artifacts"].get(model_path.name)
    except (OSError, ValueError) as exc:
        message = f"{model_path.parent / MANIFEST_NAME}: cannot read the manifest ({exc})"
        if strict:
            raise ValueError(
                f"{message}; fix or remove it, or load with verify=False to skip the check"
            ) from exc
        warnings.warn(f"{message}; ignoring it", RuntimeWarning, stacklevel=3)
        return None
