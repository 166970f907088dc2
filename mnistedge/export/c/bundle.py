"""``export_c``: the full-int8 model as plain C99, proven bit-exact and measured on a Cortex-M4.

``<export root>/c/`` holds ``<name>.h`` (the API and the I/O quantization), ``<name>.c`` (const
weights, one function per layer, one static activation buffer planned from the graph), the
kernel headers it includes, the source ``.tflite`` and ``c.json``. Before anything is written
the graph is read and generated (an op without a kernel is refused, naming it), the sources are
compiled with the host gcc at ``-std=c99 -Wall -Wextra -Werror -pedantic``, run on the 10,000
test images and compared with LiteRT's reference kernels (and its optimized and XNNPACK paths),
then cross-compiled for the Cortex-M4 and run under QEMU on ``qemu_images`` images, which must
equal the host's outputs byte for byte. The folder is swapped in atomically.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge import __version__
from mnistedge.core.io import atomic_directory, atomic_write_json, digest
from mnistedge.core.manifest import update_manifest
from mnistedge.core.tensors import Status
from mnistedge.export.api import DEFAULT_OUT
from mnistedge.export.artifact import Artifact
from mnistedge.export.calibration import CalibrationConfig, Dataset

__all__ = ["C_FOLDER", "DEFAULT_QEMU_IMAGES", "SCHEMA_VERSION", "CBundle", "export_c"]

C_FOLDER = "c"
SCHEMA_VERSION = 1
DEFAULT_QEMU_IMAGES = 1000


@dataclass(frozen=True)
class CBundle:
    """A written ``c/`` folder and what was measured for it."""

    path: Path
    models: tuple[Artifact, ...]  # the int8 source artifact when exported now
    record: dict[str, Any]  # c.json

    def describe(self) -> list[str]:
        r = self.record
        flash, ram = r["flash"], r["ram"]
        lines = [
            f"ops ({len(r['ops'])}): {', '.join(r['ops'])}; {len(r['layers'])} layers, {r['macs']:,} MACs",
            f"flash (weights + code, Cortex-M4 object): {_bytes(flash['model_bytes'])}"
            f" vs the .tflite's {flash['tflite_bytes']:,} bytes",
            f"RAM: activations {ram['activation_bytes']:,} bytes + stack {_bytes(ram['stack_bytes'])}"
            + (
                f" = {ram['total_bytes']:,} bytes, {ram['below_tflm_percent']:.1f} % below TFLM's arena "
                f"({ram['tflm_arena_bytes']:,} bytes, host-measured)"
                if ram.get("below_tflm_percent") is not None
                else ""
            ),
        ]
        for c in r.get("fidelity") or []:
            lines.append(
                f"C vs {c['description']}: {c['outputs_differing']} int8 outputs differ "
                f"(max {c['max_lsb']} LSB), {c['labels_differing']} labels, on {c['n']:,} images"
            )
        m4 = r["cortex_m4"]
        if m4.get("images"):
            lines.append(
                f"Cortex-M4 (QEMU mps2-an386): {m4['images']:,} images, bit-exact with the host: "
                f"{m4['bit_exact_with_host']}; {m4['instructions_per_inference']['mean']:,.0f} "
                f"instructions per inference ({m4['instructions_per_mac']:.2f} per MAC)"
            )
        else:
            lines.append(f"Cortex-M4: not run ({m4.get('skipped')})")
        lines.append(f"sources: {self.path}")
        return lines


def _bytes(value: int | None) -> str:
    return "not measured" if value is None else f"{value:,} bytes"


def _gcc_version() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        return "none"
    return subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[
        0
    ]


def _constant_bytes(source: str) -> int:
    """Bytes of the ``static const`` arrays in the generated source (weights, multipliers, tables)."""
    sizes = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4}
    found = re.findall(r"static const (\w+) \w+\[(\d+)\]", source)
    return sum(sizes.get(ctype, 4) * int(count) for ctype, count in found)


def _m4_tools() -> str | None:
    """Why the Cortex-M4 run cannot happen here, or None when it can."""
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not installed (apt-get install gcc-arm-none-eabi "
            "libnewlib-arm-none-eabi qemu-system-arm, or scripts/system-deps.sh)"
        )
    return None


def _tflm_arena(flatbuffer: bytes) -> int | None:
    """TFLM's host-measured minimum arena for the same model, when tflite-micro is installed."""
    try:
        from mnistedge.export.tflm.arena import measure_arena

        return measure_arena(flatbuffer).minimum_bytes
    except ImportError:
        return None


def export_c(
    model: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT,
    data: Dataset | None = None,
    verify: bool = True,
    calibration_samples: int = 500,
    calibration_seed: int = 0,
    name: str = "mnist_model",
    qemu_images: int = DEFAULT_QEMU_IMAGES,
) -> CBundle:
    """Write ``out_dir/c/`` for a Keras model (exported to int8 first) or an int8 ``.tflite``.

    Args:
        name: the C name stem: ``<name>.h``, ``<name>_invoke``, ``<NAME>_INPUT_SCALE``, ...
        verify: run the host build on the 10,000 test images against LiteRT's kernels; the
            Cortex-M4 run happens either way when ``qemu_images`` > 0 and the tools are there.
        qemu_images: test images run on the Cortex-M4 under QEMU (0 skips it).

    Raises:
        ValueError: a bad name, a float / non-TFLite model, an op with no kernel (named, with its
            layer), before any file is written; or generated C that differs from the reference.
        RuntimeError: the generated C does not compile, or the firmware fails.
    """
    from mnistedge.export.c.codegen import generate_c
    from mnistedge.export.c.graph import read_graph
    from mnistedge.export.c.harness import HOST_CFLAGS, build_host, run_host, write_sources
    from mnistedge.export.tflm.bundle import int8_artifact, int8_source
    from mnistedge.export.tflm.fidelity import compare_with_litert
    from mnistedge.export.tflm.sources import c_identifier

    name = c_identifier(name)
    if qemu_images < 0:
        raise ValueError(f"qemu_images must be >= 0 (0 skips the Cortex-M4 run); got {qemu_images}.")
    out, model = Path(out_dir), Path(model)
    if model.suffix == ".tflite" and model.is_file():
        read_graph(model)  # refuse an unsupported op before exporting anything
    calibration = CalibrationConfig(calibration_samples, calibration_seed, "minmax")
    source_path, exported = int8_artifact(model, out, data, verify, calibration, fmt="c")
    specs = int8_source(source_path)
    flatbuffer = source_path.read_bytes()
    size, sha256 = digest(source_path)
    generated = generate_c(
        read_graph(flatbuffer), name, source_note=f"{source_path.name} (sha256 {sha256[:16]}…)"
    )
    if data is None and (verify or qemu_images):
        from mnistedge.data import load_mnist

        data = load_mnist()
    scale, zero_point = specs["input"]["scale"], specs["input"]["zero_point"]

    with tempfile.TemporaryDirectory(prefix="mnistedge-c-build-") as build:
        build = Path(build)
        write_sources(generated, build / "src")
        exe = build_host(generated, build / "src", build / "model_host")
        fidelity, host_outputs, host_us = None, None, None
        if verify:
            host_run: list[Any] = []

            def c_outputs(tensors: np.ndarray) -> np.ndarray:
                host_run.append(run_host(exe, tensors, generated.output_size))
                return host_run[-1].outputs

            host_outputs, comparisons = compare_with_litert(source_path, data.x_test, data.y_test, c_outputs)
            fidelity = [c.to_dict() for c in comparisons]
            host_us = 1e6 * host_run[0].seconds_per_image
        m4 = _cortex_m4(generated, build, data, qemu_images, scale, zero_point, host_outputs, exe)

    arena = _tflm_arena(flatbuffer)
    stack = m4.get("stack_bytes")
    total = generated.activation_bytes + (stack or 0)
    model_bytes = m4.get("model_size", {}).get("text")
    record = {
        "schema_version": SCHEMA_VERSION,
        "generator": f"mnistedge {__version__}",
        "name": name,
        "source": {"file": source_path.name, "sha256": sha256, "size_bytes": size},
        "input": specs["input"],
        "output": specs["output"],
        "api": f"int {name}_invoke(const int8_t input[{generated.input_size}], "
        f"int8_t output[{generated.output_size}])",
        "ops": list(generated.ops),
        "macs": generated.macs,
        "layers": [_layer_record(layer) for layer in generated.layers],
        "activation_plan": [
            {"buffer": b.name, "offset": p.offset, "bytes": b.size, "layers": [b.first, b.last]}
            for p in generated.plan
            for b in [p.buffer]
        ],
        "flash": {
            "model_bytes": model_bytes,  # code + const weights of <name>.o on the Cortex-M4 (-O2)
            "weights_bytes": _constant_bytes(generated.source),
            "tflite_bytes": size,
            "ratio_to_tflite": None if model_bytes is None else round(model_bytes / size, 4),
        },
        "ram": {
            "activation_bytes": generated.activation_bytes,
            "stack_bytes": stack,
            "total_bytes": total if stack is not None else None,
            "tflm_arena_bytes": arena,
            "below_tflm_percent": (
                None if arena is None or stack is None else round(100 * (1 - total / arena), 2)
            ),
        },
        "fidelity": fidelity,
        "host": {
            "compiler": _gcc_version(),
            "cflags": " ".join(HOST_CFLAGS),
            "us_per_image": host_us,
            "machine": f"{platform.machine()} {platform.system()}",
        },
        "cortex_m4": {k: v for k, v in m4.items() if k not in ("stack_bytes",)},
    }  # fmt: skip
    _check(record)
    with atomic_directory(out / C_FOLDER) as tmp:
        write_sources(generated, tmp)
        atomic_write_json(tmp / "c.json", record)
        (tmp / source_path.name).write_bytes(flatbuffer)
    status = Status.UNVERIFIED if fidelity is None else Status.OK
    update_manifest(out, {
        "file": C_FOLDER, "format": "c", "status": status.value, "source": record["source"], "name": name,
        "ops": list(generated.ops), "flash_bytes": model_bytes, "ram_bytes": record["ram"]["total_bytes"],
    })  # fmt: skip
    return CBundle(path=out / C_FOLDER, models=exported, record=record)


def _layer_record(layer: Any) -> dict[str, Any]:
    return {
        "function": layer.function,
        "ops": list(layer.ops),
        "op_indices": list(layer.op_indices),
        "macs": layer.macs,
        "scratch_bytes": layer.scratch_bytes,
    }


def _check(record: dict[str, Any]) -> None:
    """Refuse to call the C done when it is not exactly the reference kernels' arithmetic."""
    reference = [c for c in record["fidelity"] or [] if c["against"] == "reference"]
    if reference and reference[0]["outputs_differing"]:
        c = reference[0]
        raise ValueError(
            f"The generated C differs from LiteRT's reference kernels on {c['outputs_differing']} int8 "
            f"outputs ({c['images_differing']} images, max {c['max_lsb']} LSB); nothing was written. "
            "Please report it with the model file."
        )
    m4 = record["cortex_m4"]
    if m4.get("images") and not m4["bit_exact_with_host"]:
        raise ValueError(
            f"The Cortex-M4 build's outputs differ from the host build's on {m4['outputs_differing']} "
            "int8 outputs; nothing was written."
        )


def _cortex_m4(
    generated: Any,
    build: Path,
    data: Dataset | None,
    qemu_images: int,
    scale: float,
    zero_point: int,
    host_outputs: np.ndarray | None,
    exe: Path,
) -> dict[str, Any]:
    """Build the firmware, run it under QEMU on the first ``qemu_images`` test images, compare."""
    from mnistedge.export.c.harness import build_m4_firmware, m4_model_size, run_host, run_m4_images
    from mnistedge.export.c.qemu import elf_size
    from mnistedge.export.tflm.fidelity import quantize_images

    why_not = _m4_tools()
    if why_not or qemu_images == 0 or data is None:
        return {"skipped": why_not or "qemu_images is 0"}
    tensors = quantize_images(data.x_test[:qemu_images], scale, zero_point)
    if host_outputs is None:
        host_outputs = run_host(exe, tensors, generated.output_size).outputs
    elf = build_m4_firmware(generated, build / "src", build / "firmware.elf")
    # ~2-25 guest instructions a MAC at ~5e8 instructions a second, with a wide margin.
    timeout = 120 + 60 * len(tensors) * generated.macs / 5e8
    run = run_m4_images(elf, tensors, generated.output_size, timeout_s=timeout)
    differing = int((run.outputs != host_outputs[: len(tensors)]).sum())
    firmware = elf_size(elf)
    model = m4_model_size(generated, build / "src")
    return {
        "machine": "qemu-system-arm -M mps2-an386 (Cortex-M4F), -icount shift=0",
        "images": run.images,
        "bit_exact_with_host": differing == 0,
        "outputs_differing": differing,
        "instructions_per_inference": {
            "min": run.instructions_min,
            "max": run.instructions_max,
            "mean": round(run.instructions_mean, 1),
        },
        "instructions_per_mac": round(run.instructions_mean / max(generated.macs, 1), 3),
        "instructions_note": "guest instructions counted by SysTick under -icount (1 tick = 40), not cycles",
        "stack_bytes": run.stack_bytes,
        "model_size": model,  # <name>.o alone: text = code + weights (flash), bss = activation buffer
        "firmware_size": firmware,  # the whole ELF: model + harness + newlib + startup
        "harness_and_libc_bytes": {"text": firmware["text"] - model["text"]},
        "qemu_wall_s": round(run.wall_s, 2),
        "build": "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2",
    }
