"""`export --format web`: the bundle's files, its catalog, the npm cache, and what happens on failure."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from runtime_fixtures import WEB_MODELS
from typer.testing import CliRunner

from mnistedge.cli import app
from mnistedge.core.manifest import read_manifest
from mnistedge.export.web import bundle as web_bundle
from mnistedge.export.web import npm

pytest.importorskip("tensorflow")
needs_npm = pytest.mark.skipif(
    shutil.which("npm") is None,
    reason="the web bundle fetches its runtimes with npm: apt-get install nodejs npm (system-deps.sh)",
)
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path, tiny_data) -> Path:
    """The tiny model's web bundle (no fidelity check: a 1k-parameter model's int8 misses them)."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: apt-get install nodejs npm (scripts/system-deps.sh)")
    out = tmp_path_factory.mktemp("web_export")
    web_bundle.export_web(tiny_model_path, out_dir=out, data=tiny_data, verify=False)
    return out


def test_bundle_holds_the_page_the_models_and_only_the_runtime_files_it_needs(tiny_bundle: Path) -> None:
    web = tiny_bundle / "web"
    for name in (*web_bundle.PAGE_FILES, "models.json"):
        assert (web / name).is_file(), name
    assert sorted(p.name for p in (web / "models").iterdir() if not p.name.startswith(".")) == sorted(
        [*WEB_MODELS, "manifest.json"]
    )
    vendored = {str(p.relative_to(web)) for p in (web / "vendor").rglob("*") if p.is_file()}
    wanted = {target for runtime in npm.RUNTIME_FILES for _, target in runtime.files}
    assert vendored == wanted  # not the ~180 MB of node_modules
    assert not any(p.name == "node_modules" for p in web.rglob("*"))


def test_page_files_fetch_nothing_from_another_origin(tiny_bundle: Path) -> None:
    for name in web_bundle.PAGE_FILES:
        text = (tiny_bundle / "web" / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://|//cdn|@import|fonts\.", text), name


def test_catalog_describes_each_model_for_the_page(tiny_bundle: Path) -> None:
    catalog = json.loads((tiny_bundle / "web" / "models.json").read_text())
    assert catalog["schema_version"] == 1
    by_file = {Path(m["path"]).name: m for m in catalog["models"]}
    assert list(by_file) == list(WEB_MODELS)
    assert catalog["default_model"] == "models/model_int8_float32io_b1.tflite"
    for name, entry in by_file.items():
        onnx = name.endswith(".onnx")
        assert entry["runtime"] == ("onnxruntime-web" if onnx else "litert.js")
        # LiteRT.js needs a fixed batch and float I/O; the file's own input says so.
        assert entry["batch"] == (None if onnx else int(name.rsplit("_b", 1)[1].split(".")[0]))
        assert entry["input"]["dtype"] == "float32" and entry["output"]["dtype"] == "float32"
        assert entry["input"]["shape"][0] == (-1 if onnx else entry["batch"])
        assert entry["normalization"] == {"scale": 1.0, "mean": 0.0, "std": 1.0}
        assert entry["size_bytes"] == (tiny_bundle / "web" / entry["path"]).stat().st_size
    versions = npm.locked_versions()
    assert catalog["runtimes"]["onnxruntime-web"]["version"] == versions["onnxruntime-web"]
    assert catalog["runtimes"]["litert.js"]["version"] == versions["@litertjs/core"]
    for runtime in catalog["runtimes"].values():
        assert 0 < runtime["gzip_bytes"] < runtime["bytes"]


def test_models_are_recorded_in_two_manifests(tiny_bundle: Path) -> None:
    models = read_manifest(tiny_bundle / "web" / "models")["artifacts"]
    assert set(models) == set(WEB_MODELS)
    assert models["model_int8_float32io_b64.tflite"]["input"]["shape"] == [64, 28, 28, 1]
    assert models["model_int8_float32io_b64.tflite"]["calibration"]["samples"] == 500
    top = read_manifest(tiny_bundle)["artifacts"]["web"]
    assert top["format"] == "web" and top["models"] == [f"models/{m}" for m in WEB_MODELS]
    assert top["status"] == "unverified"  # verify=False


def test_fixed_batch_models_run_in_the_python_runtime(tiny_bundle: Path, tiny_data) -> None:
    from mnistedge.runtime import load

    images = tiny_data.x_test[:70]  # not a multiple of 64: the last chunk is padded
    dynamic = load(tiny_bundle / "web" / "models" / "model.onnx").predict_proba(images)
    for name in ("model_b1.tflite", "model_b64.tflite"):
        fixed = load(tiny_bundle / "web" / "models" / name).predict_proba(images)
        np.testing.assert_allclose(fixed, dynamic, atol=1e-5)


@needs_npm
def test_missing_npm_is_a_clear_error_before_any_conversion(
    tmp_path: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"npm is not on PATH.*apt-get install nodejs npm"):
        web_bundle.export_web(tiny_model_path, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "out").exists()


def test_a_failed_export_leaves_the_previous_bundle_as_it_was(
    tiny_bundle: Path, tiny_model_path: Path, tiny_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiny_bundle, out)
    before = {p: p.read_bytes() for p in (out / "web").rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(web_bundle, "_copy_runtimes", broken)
    with pytest.raises(OSError, match="simulated"):
        web_bundle.export_web(tiny_model_path, out_dir=out, data=tiny_data, verify=False)
    after = {p: p.read_bytes() for p in (out / "web").rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".web")] == []  # no temp folder left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quantize", "int8"], "drop --quantize"),
        (["--name", "foo"], "drop --name"),
        (["--io-type", "float32"], "drop --io-type"),
        (["--batch", "1"], "drop --batch"),
        (["--calibration-method", "entropy"], "drop --calibration-method"),
    ],
)
def test_web_refuses_per_artifact_flags(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--format", "web", "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "web").exists()


def test_tflite_batch_option_is_checked_and_named(tmp_path: Path) -> None:
    from mnistedge.export.api import plan_artifact
    from mnistedge.export.calibration import CalibrationConfig

    job = plan_artifact("tflite", "int8", CalibrationConfig(), io_type="float32", batch=64)
    assert job.filename == "model_int8_float32io_b64.tflite"
    assert plan_artifact("tflite", "none", CalibrationConfig(), batch=1).filename == "model_b1.tflite"
    for bad in (0, -1, 1.5, True, 10_000):
        with pytest.raises(ValueError, match=r"batch must be None \(dynamic\) or an int in 1\.\.4096"):
            plan_artifact("tflite", "none", CalibrationConfig(), batch=bad)
    with pytest.raises(ValueError, match="Unknown option"):
        plan_artifact("onnx", "none", CalibrationConfig(), batch=1)


def test_cache_key_follows_the_lockfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = npm.lock_key()
    assets = tmp_path / "assets"
    shutil.copytree(npm.ASSETS, assets, ignore=shutil.ignore_patterns("*.js", "*.html", "*.css"))
    monkeypatch.setattr(npm, "ASSETS", assets)
    assert npm.lock_key() == key
    lock = json.loads((assets / "package-lock.json").read_text())
    lock["packages"][""]["version"] = "9.9.9"
    (assets / "package-lock.json").write_text(json.dumps(lock))
    assert npm.lock_key() != key  # a new pin gets a new cache folder
