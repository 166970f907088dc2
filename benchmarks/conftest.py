"""pytest-benchmark suite: latency of every artifact, and the runtime's overhead pair.

Where the artifacts come from, first match wins:
  1. ``MNISTEDGE_ARTIFACTS``: an export directory (with manifest.json) or an artifacts root
     holding ``export/``;
  2. ``artifacts/export/`` in the current directory (what `mnistedge run` writes);
  3. built here: a tiny model trained on synthetic digits, exported to all six formats
     (needs the export extra; takes ~15 s).

Inside the normal test command (plain ``pytest``: paths from ``testpaths``) the suite runs
with ``--benchmark-disable`` semantics: each benchmarked call runs once, so the suite is
checked without costing time. Name the directory (``pytest benchmarks``), or pass
``--benchmark-enable`` or any report option (``--benchmark-json``, ``--benchmark-autosave``,
``--benchmark-save``, ``--benchmark-compare``) to time for real.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPORT_OPTIONS = (
    "benchmark_json",
    "benchmark_autosave",
    "benchmark_save",
    "benchmark_compare",
    "benchmark_enable",
    "benchmark_only",
)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """In the plain test command, run each benchmark once (before pytest-benchmark reads it)."""
    if not hasattr(config.option, "benchmark_disable"):
        return  # pytest-benchmark not installed; the `benchmark` fixture will be missing
    asked = any(getattr(config.option, name, None) for name in REPORT_OPTIONS)
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS and not asked:
        config.option.benchmark_disable = True


@dataclass(frozen=True)
class Artifacts:
    export_dir: Path
    manifest: dict[str, Any]  # file name -> manifest entry
    images: np.ndarray  # uint8 test images that go with them (synthetic when built here)
    labels: np.ndarray | None
    built_here: bool

    def file_for(self, fmt: str, quantization: str) -> Path | None:
        for name, entry in self.manifest.items():
            if entry.get("format") == fmt and entry.get("quantization") == quantization:
                return self.export_dir / entry.get("file", name)
        return None


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable MNIST-shaped data: digit k lights a 6x6 patch at a k-specific spot."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.int16)
    for i, k in enumerate(labels):
        r, c = 3 + (k // 5) * 12, 2 + (k % 5) * 5
        images[i, r : r + 6, c : c + 6] += 170
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def _build_tiny(out: Path) -> Path:
    pytest.importorskip("tensorflow", reason="building benchmark artifacts needs mnistedge[export]")
    import keras

    from mnistedge.export import export_all
    from mnistedge.train import build_model

    x_train, y_train = synthetic_digits(600, seed=0)
    x_test, y_test = synthetic_digits(200, seed=1)
    keras.utils.set_random_seed(0)
    model = build_model("tiny")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train[..., None].astype("float32"), y_train, epochs=2, batch_size=32, verbose=0)
    model.save(out / "model.keras")

    @dataclass(frozen=True)
    class Data:
        x_train: np.ndarray
        y_train: np.ndarray
        x_test: np.ndarray
        y_test: np.ndarray

    export_all(
        out / "model.keras", out_dir=out / "export", data=Data(x_train, y_train, x_test, y_test), verify=False
    )
    return out / "export"


def _find_export_dir() -> Path | None:
    env = os.environ.get("MNISTEDGE_ARTIFACTS")
    if env:
        root = Path(env)
        for candidate in (root, root / "export"):
            if (candidate / "manifest.json").is_file():
                return candidate
        raise pytest.UsageError(
            f"MNISTEDGE_ARTIFACTS={env} has no manifest.json (nor export/manifest.json): point it "
            "at `mnistedge export` output or an artifacts root."
        )
    default = Path("artifacts/export")
    return default if (default / "manifest.json").is_file() else None


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    export_dir = _find_export_dir()
    built = export_dir is None
    if built:
        export_dir = _build_tiny(tmp_path_factory.mktemp("bench_artifacts"))
    manifest = json.loads((export_dir / "manifest.json").read_text(encoding="utf-8"))["artifacts"]
    images, labels = synthetic_digits(200, seed=1)
    return Artifacts(export_dir, manifest, images, labels if built else None, built)


@pytest.fixture(scope="session")
def classifiers(artifacts: Artifacts) -> dict[Path, Any]:
    """Loaded classifiers, one per artifact, shared by the benchmarks (1 thread each)."""
    return {}
