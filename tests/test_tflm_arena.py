"""The TFLM tensor arena (measured by TFLM, checked against LiteRT reference kernels) and board fit."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from mnistedge.export.tflm.boards import (
    BOARDS,
    TFLM_RUNTIME_ESTIMATE,
    Board,
    board_fit,
    fit_table_markdown,
)

needs_tflm = pytest.mark.skipif(
    importlib.util.find_spec("tflite_micro") is None, reason="pip install 'mnistedge[micro]'"
)
KIB = 1024


def _export(model: Path, out: Path, data, quantize: str, **options) -> Path:
    pytest.importorskip("tensorflow", reason="exporting needs mnistedge[export]")
    from mnistedge.export import export_artifact

    return export_artifact(
        model, "tflite", quantize=quantize, out_dir=out, data=data, verify=False, **options
    ).path


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path, tiny_data) -> Path:
    return _export(tiny_model_path, tmp_path_factory.mktemp("tflm_int8"), tiny_data, "int8")


@pytest.fixture(scope="module")
def measured(int8_model: Path):
    from mnistedge.export.tflm.arena import measure_arena

    return measure_arena(int8_model)


def _quantized(path: Path, pixels: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> the model's int8 input (N, 28, 28, 1), from the input's own scale/zero-point."""
    from ai_edge_litert.interpreter import Interpreter

    scale, zero_point = Interpreter(model_path=str(path)).get_input_details()[0]["quantization"]
    q = np.round(pixels.astype(np.float32) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)[..., None]


def _litert_reference(path: Path, tensors: np.ndarray) -> np.ndarray:
    """LiteRT's reference kernels (the arithmetic TFLM follows), one image a call like the device."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for tensor in tensors:
        interpreter.set_tensor(inp["index"], tensor[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"])[0])
    return np.stack(outputs)


def _check_arena(path: Path, pixels: np.ndarray, label: str) -> None:
    """The acceptance checks, shared by the tiny and the real model."""
    from mnistedge.export.tflm.arena import ArenaTooSmallError, measure_arena, run_with_arena

    start = time.perf_counter()
    arena = measure_arena(path)
    seconds = time.perf_counter() - start
    tensors = _quantized(path, pixels)
    tflm = run_with_arena(path, arena.recommended_bytes, tensors)
    np.testing.assert_array_equal(tflm, _litert_reference(path, tensors))
    with pytest.raises(ArenaTooSmallError, match=f"at least {arena.minimum_bytes:,} bytes"):
        run_with_arena(path, arena.minimum_bytes - KIB, tensors[:1])
    print(
        f"\n{label}: minimum {arena.minimum_bytes:,} B, recommended {arena.recommended_bytes:,} B "
        f"(margin {arena.margin_bytes:,}), head {arena.head_bytes:,} + tail {arena.tail_bytes:,}, "
        f"estimated 32-bit {arena.estimated_32bit_bytes:,} B; measured in {seconds:.2f} s; "
        f"{len(tensors)} images equal to LiteRT BUILTIN_REF; {arena.measured_on}"
    )


# --- the arena ---------------------------------------------------------------------------------


@needs_tflm
def test_minimum_is_16_aligned_and_really_minimal(int8_model: Path, measured, tiny_data) -> None:
    from mnistedge.export.tflm.arena import ArenaTooSmallError, run_with_arena

    one = _quantized(int8_model, tiny_data.x_test[:1])
    assert measured.minimum_bytes % 16 == 0
    assert run_with_arena(int8_model, measured.minimum_bytes, one).shape == (1, 10)
    with pytest.raises(ArenaTooSmallError):
        run_with_arena(int8_model, measured.minimum_bytes - 16, one)


@needs_tflm
def test_recommended_is_minimum_plus_margin(measured) -> None:
    assert measured.recommended_bytes == measured.minimum_bytes + measured.margin_bytes
    assert measured.recommended_bytes % 16 == 0
    assert measured.margin_bytes >= max(1024, measured.minimum_bytes // 10)
    assert measured.margin_bytes < max(1024, measured.minimum_bytes // 10) + 16 + 1


@needs_tflm
def test_recommended_arena_gives_litert_reference_outputs_and_1kib_short_fails(
    int8_model: Path, tiny_data
) -> None:
    _check_arena(int8_model, tiny_data.x_test[:200], "tiny model")


@needs_tflm
def test_too_small_error_names_the_figures(int8_model: Path, measured, tiny_data) -> None:
    from mnistedge.export.tflm.arena import ArenaTooSmallError, run_with_arena

    short = measured.minimum_bytes - KIB
    with pytest.raises(ArenaTooSmallError) as caught:
        run_with_arena(int8_model, short, _quantized(int8_model, tiny_data.x_test[:2]))
    error = caught.value
    assert isinstance(error, RuntimeError)
    message = str(error)
    assert f"A {short:,}-byte tensor arena is too small" in message
    assert f"{measured.recommended_bytes:,}" in message
    assert "TFLM failed to allocate tensors" not in message  # ours, not TFLM's bare text
    assert (error.arena_bytes, error.minimum_bytes, error.recommended_bytes) == (
        short,
        measured.minimum_bytes,
        measured.recommended_bytes,
    )
    if error.requested_bytes is not None:  # parsed from "Requested: X, available Y, missing: Z"
        assert error.requested_bytes > error.available_bytes >= 0
        assert f"first failed request was {error.requested_bytes} bytes" in message


@needs_tflm
def test_breakdown_parses_and_adds_up(measured) -> None:
    records = measured.breakdown
    assert records, "no allocation records parsed"
    whats = {r.what for r in records}
    assert {"TfLiteEvalTensor data", "NodeAndRegistration struct"} <= whats
    for record in records:
        assert record.used_bytes >= record.requested_bytes >= 0 and record.count >= 0
    assert sum(r.used_bytes for r in records) <= measured.tail_bytes
    assert 0 < measured.head_bytes + measured.tail_bytes <= measured.minimum_bytes
    assert measured.head_bytes <= measured.estimated_32bit_bytes < measured.minimum_bytes
    assert measured.estimated_32bit_bytes % 16 == 0
    assert measured.pointer_bits == 64 and "64-bit pointers" in measured.measured_on
    assert "tflite-micro" in measured.measured_on


@needs_tflm
def test_to_dict_is_json(measured) -> None:
    record = json.loads(json.dumps(measured.to_dict()))
    assert record["minimum_bytes"] == measured.minimum_bytes
    assert record["breakdown"][0].keys() == {"what", "used_bytes", "requested_bytes", "count"}


@needs_tflm
def test_native_output_is_held_back_and_restored(int8_model: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from mnistedge.export.tflm.arena import measure_arena

    measure_arena(int8_model)
    os.write(1, b"fd 1 still works\n")
    out, err = capfd.readouterr()
    assert out == "fd 1 still works\n"
    assert "RecordingMicroAllocator" not in out + err and "Failed to" not in out + err


@needs_tflm
def test_float_model_is_refused_naming_the_int8_artifact(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path, tiny_data
) -> None:
    from mnistedge.export.tflm.arena import measure_arena

    float_model = _export(tiny_model_path, tmp_path_factory.mktemp("tflm_float"), tiny_data, "none")
    with pytest.raises(ValueError, match=r"float32 TFLite model.*model_int8\.tflite.*--quantize int8"):
        measure_arena(float_model)


@needs_tflm
def test_uint8_io_is_refused(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path, tiny_data
) -> None:
    from mnistedge.export.tflm.arena import measure_arena

    path = _export(tiny_model_path, tmp_path_factory.mktemp("tflm_uint8"), tiny_data, "int8", io_type="uint8")
    with pytest.raises(ValueError, match=r"uint8 input/output.*model_int8\.tflite"):
        measure_arena(path)


@needs_tflm
def test_non_tflite_bytes_are_refused(tmp_path: Path) -> None:
    from mnistedge.export.tflm.arena import measure_arena, run_with_arena

    junk = np.random.default_rng(0).bytes(5000)
    with pytest.raises(ValueError, match=r"not a TFLite model.*model_int8\.tflite"):
        measure_arena(junk)
    (tmp_path / "junk.tflite").write_bytes(junk)
    with pytest.raises(ValueError, match=r"junk\.tflite is not a TFLite model"):
        run_with_arena(tmp_path / "junk.tflite", 64 * KIB, np.zeros((1, 28, 28, 1), np.int8))


@needs_tflm
def test_bad_arguments_are_refused(int8_model: Path, tiny_data) -> None:
    from mnistedge.export.tflm.arena import measure_arena, run_with_arena

    with pytest.raises(ValueError, match="multiple of 16"):
        measure_arena(int8_model, step=8)
    with pytest.raises(ValueError, match=r"even in a 1,024-byte arena.*larger upper"):
        measure_arena(int8_model, upper=KIB)
    with pytest.raises(ValueError, match="must be int8"):
        run_with_arena(int8_model, 64 * KIB, tiny_data.x_test[:1])
    with pytest.raises(ValueError, match=r"takes \(N, 28, 28, 1\)"):
        run_with_arena(int8_model, 64 * KIB, np.zeros((1, 14, 14), np.int8))


@pytest.mark.integration
@needs_tflm
def test_real_mnist_model(tmp_path_factory: pytest.TempPathFactory, mnist_model: Path, mnist) -> None:
    path = _export(mnist_model, tmp_path_factory.mktemp("tflm_mnist"), mnist, "int8")
    _check_arena(path, mnist.x_test[:200], "real MNIST model")


# --- boards ------------------------------------------------------------------------------------


def test_boards_table() -> None:
    names = [b.name for b in BOARDS]
    assert len(names) == len(set(names)) >= 5
    figures = {b.name: (b.flash_bytes, b.ram_bytes) for b in BOARDS}
    assert figures["Arduino Nano 33 BLE Sense"] == (1024 * KIB, 256 * KIB)
    assert figures["Raspberry Pi Pico"] == (2048 * KIB, 264 * KIB)
    assert figures["STM32F746G Discovery"] == (1024 * KIB, 320 * KIB)
    assert figures["SparkFun Edge"] == (1024 * KIB, 384 * KIB)
    assert all(b.source and b.mcu and b.core for b in BOARDS)
    assert TFLM_RUNTIME_ESTIMATE.to_dict()["estimate"] is True


def test_board_fit_math() -> None:
    fits = board_fit(20_000, 16_000)
    assert all(fit.fits for fit in fits)  # a small model fits everywhere
    flash = 20_000 + TFLM_RUNTIME_ESTIMATE.flash_bytes
    ram = 16_000 + TFLM_RUNTIME_ESTIMATE.ram_bytes
    pico = next(fit for fit in fits if fit.board.name == "Raspberry Pi Pico")
    assert (pico.flash_needed_bytes, pico.ram_needed_bytes) == (flash, ram)
    assert pico.ram_percent == round(100 * ram / (264 * KIB), 2)
    assert not any(fit.fits for fit in board_fit(20_000, 4 * 1024 * KIB))  # a 4 MiB arena fits nowhere
    assert not any(fit.fits for fit in board_fit(64 * 1024 * KIB, 16_000))  # nor a 64 MiB model


def test_board_fit_boundary_and_errors() -> None:
    runtime = TFLM_RUNTIME_ESTIMATE
    exact = Board("exact", "mcu", "core", 1000 + runtime.flash_bytes, 500 + runtime.ram_bytes, "test")
    assert board_fit(1000, 500, boards=[exact])[0].fits
    assert not board_fit(1001, 500, boards=[exact])[0].fits
    assert not board_fit(1000, 501, boards=[exact])[0].fits
    with pytest.raises(ValueError, match="arena_bytes must be >= 0"):
        board_fit(1000, -1)


def test_fit_table_markdown_and_dict() -> None:
    fits = board_fit(20_000, 4 * 1024 * KIB)
    table = fit_table_markdown(fits)
    lines = table.strip().splitlines()
    assert lines[0].startswith("| Board |") and len(lines) == 2 + len(BOARDS)
    assert all(line.endswith("| no |") for line in lines[2:])
    assert "| yes |" in fit_table_markdown(board_fit(20_000, 16_000))
    record = json.loads(json.dumps(fits[0].to_dict()))
    assert record["board"] == BOARDS[0].name and record["fits"] is False
