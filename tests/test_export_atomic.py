"""A killed or failing export never leaves a half-written file under the final name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnistedge.export import export_artifact

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, not even ``except Exception`` handlers."""


def _visible(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if not p.name.startswith(".")}


def _old_artifact(path: Path) -> None:
    if path.suffix:
        path.write_bytes(b"the previous export")
    else:
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"the previous export")


def _old_content(path: Path) -> bytes:
    return (path if path.is_file() else path / "saved_model.pb").read_bytes()


@pytest.mark.parametrize(
    ("fmt", "quantize", "name"),
    [
        ("tflite", "none", "model.tflite"),
        ("onnx", "int8", "model_int8.onnx"),
        ("saved_model", "none", "saved_model"),
    ],
)
def test_killed_before_the_rename_leaves_the_old_artifact(
    fmt: str, quantize: str, name: str, tiny_model_path: Path, tiny_data, tmp_path: Path, monkeypatch
) -> None:
    target = tmp_path / name
    _old_artifact(target)
    seen = {}

    def kill_at_rename(src: os.PathLike, dst: os.PathLike) -> None:
        # The converter has finished writing, to a temporary name; the target is still the old one.
        seen["written"] = Path(src).stat().st_size if Path(src).is_file() else len(list(Path(src).rglob("*")))
        seen["target_then"] = _old_content(target)
        raise Killed

    monkeypatch.setattr("mnistedge.core.io.os.replace", kill_at_rename)
    with pytest.raises(Killed):
        export_artifact(
            tiny_model_path, fmt, quantize=quantize, out_dir=tmp_path, data=tiny_data,
            calibration_samples=50, verify=False,
        )  # fmt: skip
    assert seen["written"] > 0 and seen["target_then"] == b"the previous export"
    assert _old_content(target) == b"the previous export"
    assert _visible(tmp_path) == {name}  # no manifest entry, no partial file beside it


def test_quantizer_failing_midway_leaves_nothing(
    tiny_model_path: Path, tiny_data, tmp_path: Path, monkeypatch
) -> None:
    from onnxruntime import quantization

    def half_written(model_input, model_output, *args, **kwargs) -> None:
        Path(model_output).write_bytes(b"\x08\x07partial onnx")
        raise RuntimeError("calibration crashed")

    monkeypatch.setattr(quantization, "quantize_static", half_written)
    with pytest.raises(RuntimeError, match="calibration crashed"):
        export_artifact(
            tiny_model_path, "onnx", quantize="int8", out_dir=tmp_path, data=tiny_data,
            calibration_samples=50, verify=False,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # neither the final name nor a temporary one


def test_tflite_converter_failing_keeps_the_old_file(
    tiny_model_path: Path, tiny_data, tmp_path: Path, monkeypatch
) -> None:
    from tensorflow.lite.python import lite

    _old_artifact(tmp_path / "model_fp16.tflite")

    def broken_convert(self) -> bytes:
        raise RuntimeError("converter crashed")

    # from_saved_model returns this subclass, which has its own convert().
    monkeypatch.setattr(lite.TFLiteSavedModelConverterV2, "convert", broken_convert)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export_artifact(tiny_model_path, "tflite", quantize="fp16", out_dir=tmp_path, data=tiny_data)
    assert _old_content(tmp_path / "model_fp16.tflite") == b"the previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["model_fp16.tflite"]
