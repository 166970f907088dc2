"""Files that are not what they claim: clean errors naming the path and the reason, never a crash."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mnistedge.runtime import _probe, load
from mnistedge.runtime._integrity import read_model


def _copy(artifacts: dict, name: str, dest: Path, manifest: bool = True) -> Path:
    src = artifacts[name]
    shutil.copy(src, dest / name)
    if manifest:
        shutil.copy(src.parent / "manifest.json", dest / "manifest.json")
    return dest / name


def _bad_file(kind: str, artifacts: dict, tmp_path: Path) -> Path:
    real = artifacts["model_int8.tflite"].read_bytes()
    rng = np.random.default_rng(0)
    files = {
        "empty": ("empty.tflite", b""),
        "random.tflite": ("random.tflite", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()),
        "random.onnx": ("random.onnx", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()),
        "truncated.tflite": ("trunc.tflite", real[: len(real) // 2]),
        "truncated.onnx": ("trunc.onnx", artifacts["model.onnx"].read_bytes()[:3000]),
        "wrong_magic": ("magic.tflite", real[:4] + b"XXXX" + real[8:]),
        "onnx_named_tflite": ("swap.tflite", artifacts["model.onnx"].read_bytes()),
        "tflite_named_onnx": ("swap.onnx", real),
        "text.onnx": ("text.onnx", b"this is not a model\n" * 10),
        "tiny": ("tiny.tflite", b"TFL3"),
    }
    name, data = files[kind]
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("empty", "the file is empty"),
        ("random.tflite", "file identifier"),
        ("random.onnx", "not a valid onnx model"),
        ("truncated.tflite", "not a valid tflite model"),
        ("truncated.onnx", "truncated"),
        ("wrong_magic", r"file identifier is b'XXXX', expected b'TFL3'"),
        ("onnx_named_tflite", "file identifier"),
        ("tflite_named_onnx", "not a valid onnx model"),
        ("text.onnx", "not a valid onnx model"),
        ("tiny", "too short"),
    ],
)
def test_broken_files_raise_valueerror_with_path_and_reason(kind, reason, artifacts, tmp_path) -> None:
    path = _bad_file(kind, artifacts, tmp_path)
    with pytest.raises(ValueError, match=reason) as info:
        load(path)
    assert str(path) in str(info.value)


def test_paths_that_are_not_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.tflite"):
        load(tmp_path / "missing.tflite")
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(IsADirectoryError, match=r"dir.onnx: is a directory"):
        load(tmp_path / "dir.onnx")
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"unknown model format '.bin'; supported: .tflite, .onnx"):
        load(tmp_path / "model.bin")


def test_a_changed_file_fails_its_manifest_sha256(artifacts, tmp_path: Path) -> None:
    path = _copy(artifacts, "model_int8.tflite", tmp_path)
    expected = json.loads((tmp_path / "manifest.json").read_text())["artifacts"][path.name]["sha256"]
    path.write_bytes(path.read_bytes() + b"\0\0\0\0")  # still a valid flatbuffer, different bytes
    with pytest.raises(ValueError, match="sha256 does not match") as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and f"expected {expected}" in message and "actual " in message
    clf = load(path, verify=False)  # the caller's explicit trust
    assert clf.info.manifest_verified is False


def test_manifest_problems(artifacts, tmp_path: Path) -> None:
    path = _copy(artifacts, "model.onnx", tmp_path)
    assert load(path).info.manifest_verified is True
    manifest = tmp_path / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["artifacts"][path.name]["status"] = "failed"
    manifest.write_text(json.dumps(doc))
    with pytest.warns(RuntimeWarning, match="status='failed'"):
        load(path)
    del doc["artifacts"][path.name]
    manifest.write_text(json.dumps(doc))
    assert load(path).info.manifest_verified is False  # not listed: nothing to check against
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest.json: cannot read the manifest.*verify=False"):
        load(path)
    with pytest.warns(RuntimeWarning, match="ignoring it"):
        assert load(path, verify=False).info.manifest_verified is False


def _rewrite(path: Path, edit) -> Path:
    """Unpack a .tflite with the schema's object API, apply ``edit``, pack it again."""
    flatbuffers = pytest.importorskip("flatbuffers")
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = path.with_name("edited.tflite")
    out.write_bytes(bytes(builder.Output()))
    return out


def _set_shape(m, i, shape):
    m.subgraphs[0].tensors[i].shape = np.array(shape, np.int32)


def _set_scale(m, value):
    t = next(t for t in m.subgraphs[0].tensors if t.quantization is not None and len(t.quantization.scale))
    t.quantization.scale = np.array([value], np.float32)


def _drop_inputs(m):
    m.subgraphs[0].operators[1].inputs = np.array([], np.int32)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        # XNNPACK would allocate and pack a 13x13x67M tensor for a minute.
        (lambda m: _set_shape(m, 8, [1, 13, 13, 67108868]), "declares 11341398692 elements"),
        (lambda m: _set_shape(m, 8, [1, 13, 13, 5]), r"shape \[1, 13, 13, 5\] but shape_signature"),
        (lambda m: _set_shape(m, 8, [1, -13, 13, 4]), "negative dimension"),
        (lambda m: _set_scale(m, np.nan), "scale that is not finite and positive"),  # aborts LiteRT
        (lambda m: _set_scale(m, 0.0), "scale that is not finite and positive"),
        (_drop_inputs, "operator 1 has no inputs"),  # segfaults a kernel
        (lambda m: setattr(m.subgraphs[0].operators[0], "opcodeIndex", 99), "uses opcode 99"),
        (lambda m: setattr(m.subgraphs[0].tensors[7], "buffer", 999), "uses buffer 999"),
        (lambda m: setattr(m, "version", 4), "schema version 4, expected 3"),
        (
            lambda m: setattr(m.buffers[m.subgraphs[0].tensors[7].buffer], "data", np.zeros(3, np.uint8)),
            "its buffer has 3",
        ),
    ],
)
def test_structural_check_catches_what_crashes_or_stalls_litert(edit, reason, artifacts, tmp_path) -> None:
    path = _rewrite(_copy(artifacts, "model_int8.tflite", tmp_path, manifest=False), edit)
    with pytest.raises(ValueError, match=reason) as info:
        read_model(path)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------------- the probe process
def _fake_worker(monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """Swap the probe worker for a script; reset the worker and the cache of passed models."""
    script = "import json, os, signal, sys, time\n" + 'print(json.dumps({"ready": True}), flush=True)\n'
    script += textwrap.dedent(body)
    monkeypatch.setattr(_probe, "WORKER_COMMAND", [sys.executable, "-c", script])
    monkeypatch.setattr(_probe, "_worker", None)
    monkeypatch.setattr(_probe, "_passed", set())


def _requests() -> str:
    return """
    def requests():
        while header := sys.stdin.buffer.readline():
            sys.stdin.buffer.read(json.loads(header)["size"])
            yield
    """


def test_a_crash_in_the_probe_is_a_valueerror(artifacts, tmp_path, monkeypatch) -> None:
    _fake_worker(monkeypatch, _requests() + "for _ in requests(): os.kill(os.getpid(), signal.SIGSEGV)")
    model = read_model(_copy(artifacts, "model.tflite", tmp_path, manifest=False))
    with pytest.raises(
        ValueError, match=r"crashed loading this model in a probe process \(killed by SIGSEGV\)"
    ):
        _probe.probe(model)


def test_a_hang_in_the_probe_is_a_valueerror(artifacts, tmp_path, monkeypatch) -> None:
    _fake_worker(monkeypatch, _requests() + "for _ in requests(): time.sleep(60)")
    model = read_model(_copy(artifacts, "model.tflite", tmp_path, manifest=False))
    with pytest.raises(ValueError, match=r"did not finish within 0.5 s"):
        _probe.probe(model, timeout=0.5)


def test_a_worker_that_saw_other_models_gets_a_fresh_retry(artifacts, tmp_path, monkeypatch) -> None:
    # Replies to its first request, dies on its second: each model's retry lands in a fresh one.
    body = (
        _requests()
        + """
    for n, _ in enumerate(requests()):
        if n:
            os.kill(os.getpid(), signal.SIGSEGV)
        print(json.dumps({"ok": True}), flush=True)
    """
    )
    _fake_worker(monkeypatch, body)
    first = read_model(_copy(artifacts, "model.tflite", tmp_path, manifest=False))
    second = read_model(_copy(artifacts, "model_fp16.tflite", tmp_path, manifest=False))
    _probe.probe(first)
    _probe.probe(second)
    assert _probe._worker.used == 1  # the retry's fresh worker


def test_a_probe_that_cannot_start_says_so(artifacts, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(
        _probe, "WORKER_COMMAND", [sys.executable, "-c", "raise SystemExit('no engine here')"]
    )
    monkeypatch.setattr(_probe, "_worker", None)
    monkeypatch.setattr(_probe, "_passed", set())
    model = read_model(_copy(artifacts, "model.tflite", tmp_path, manifest=False))
    with pytest.raises(RuntimeError, match=r"probe process did not start.*no engine here.*isolate=False"):
        _probe.probe(model)


def test_the_probe_reports_engine_errors_and_caches_successes(artifacts, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(_probe, "_passed", set())
    path = _copy(artifacts, "model_int8.tflite", tmp_path, manifest=False)
    model = read_model(path)
    _probe.probe(model)
    assert any(key.startswith(model.sha256) for key in _probe._passed)
    _fake_worker(monkeypatch, _requests() + "for _ in requests(): os.abort()")
    monkeypatch.setattr(_probe, "_passed", {f"{model.sha256}:auto:None"})
    _probe.probe(model)  # cached: the crashing worker is never asked
    load(path, isolate=False)  # and isolate=False never asks it either


def test_load_isolates_only_files_no_manifest_vouches_for(artifacts, tmp_path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr("mnistedge.runtime._classifier.probe", lambda model, **kw: calls.append(model.path))
    vouched = _copy(artifacts, "model.onnx", tmp_path)
    load(vouched)
    assert calls == []
    load(vouched, isolate=True)
    load(vouched, verify=False)
    assert calls == [vouched, vouched]
