"""Helpers shared by the benchmark modules (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["accuracy_of", "get_classifier"]


def get_classifier(cache: dict[Path, Any], path: Path) -> Any:
    from mnistedge.runtime import load

    if path not in cache:
        cache[path] = load(path, threads=1)
    return cache[path]


def accuracy_of(artifacts: Any, path: Path, clf: Any) -> float | None:
    """The manifest's fidelity accuracy; for artifacts built here, measured on their test set."""
    fidelity = (artifacts.manifest.get(path.name) or {}).get("fidelity") or {}
    if fidelity.get("accuracy") is not None:
        return float(fidelity["accuracy"])
    if artifacts.labels is not None:
        return float(np.mean(clf.predict(artifacts.images) == artifacts.labels))
    return None
