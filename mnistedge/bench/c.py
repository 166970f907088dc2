"""The standalone-C target: the generated C on this host (gcc) and on a Cortex-M4 under QEMU.

Two rows from the ``c/`` export bundle. The host row builds the sources with gcc -O2 and times
each ``<name>_invoke`` (a relative figure: this CPU, not a microcontroller). The Cortex-M4 row
cross-compiles the same sources, runs the first ``qemu_images`` images under QEMU's mps2-an386
and reports guest instructions per inference (SysTick under ``-icount``: instructions, not
cycles), flash and RAM; it has no milliseconds, because QEMU's time is not a device's. Both are
checked byte for byte: host against LiteRT's reference kernels, M4 against the host.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.bench.report import BenchRow
from mnistedge.bench.rows import edge_figures, latency_fields

__all__ = ["C_WARMUP", "DEFAULT_QEMU_IMAGES", "run_c_bench"]

C_WARMUP = 1  # untimed passes over the images before the timed one
DEFAULT_QEMU_IMAGES = 1000


def _generated(record: dict[str, Any], bundle: Path) -> Any:
    """What the harness needs to build the bundle's sources (names and sizes), from c.json."""
    from mnistedge.export.c.codegen import GeneratedC

    header = (bundle / f"{record['name']}.h").read_text(encoding="utf-8")
    source = (bundle / f"{record['name']}.c").read_text(encoding="utf-8")
    kernels = tuple(p.name for p in sorted(bundle.glob("mnist_int8*.h")) if p.name != "mnist_int8.h")
    return GeneratedC(
        name=record["name"], header=header, source=source, kernel_headers=kernels, layers=(),
        activation_bytes=record["ram"]["activation_bytes"], plan=(), macs=record["macs"],
        ops=tuple(record["ops"]), input_size=int(np.prod(record["input"]["shape"])),
        output_size=int(np.prod(record["output"]["shape"])),
    )  # fmt: skip


def _dequantize(outputs: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    scale, zero_point = record["output"]["scale"], record["output"]["zero_point"]
    return (outputs.astype(np.float32) - zero_point) * scale


def run_c_bench(
    bundle: Path,
    images: np.ndarray,
    labels: np.ndarray,
    keras_labels: np.ndarray | None = None,
    qemu_images: int = DEFAULT_QEMU_IMAGES,
) -> tuple[list[BenchRow], dict[str, Any]]:
    """The host row on every image, and the Cortex-M4 row on the first ``qemu_images`` (0: none).

    Raises:
        FileNotFoundError: no c bundle (the message says how to write one), or no host gcc.
    """
    from mnistedge.export.c.harness import build_host, build_m4_firmware, run_host, run_m4_images
    from mnistedge.export.tflm.fidelity import litert_int8_outputs, quantize_images

    record_path = bundle / "c.json"
    if not record_path.is_file():
        raise FileNotFoundError(f"no c bundle at {bundle}: run `mnistedge export --format c` first.")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    generated = _generated(record, bundle)
    model = bundle / record["source"]["file"]
    tensors = quantize_images(images, record["input"]["scale"], record["input"]["zero_point"])
    reference = litert_int8_outputs(model, images, "reference")
    native = _dequantize(reference, record)
    common = {
        "format": "c",
        "quantization": "int8",
        "batch_size": 1,
        "call": "invoke",
        "threads": 1,
        "target": "c",
        "flash_bytes": record["flash"]["model_bytes"],
        "ram_bytes": record["ram"]["total_bytes"] or record["ram"]["activation_bytes"],
    }
    env: dict[str, Any] = {"c_json": {k: record[k] for k in ("name", "source", "macs", "flash", "ram")}}
    with tempfile.TemporaryDirectory(prefix="mnistedge-bench-c-") as tmp:
        build = Path(tmp)
        exe = build_host(generated, bundle, build / "model_host")
        host = run_host(exe, tensors, generated.output_size, repeat=C_WARMUP + 1)
        rows = [
            BenchRow(
                artifact=f"c/{record['name']}.c",
                engine=f"generated C99 ({record['host']['compiler'].split(' (')[0]} -O2, this host)",
                provider="host",
                size_bytes=record["flash"]["weights_bytes"],
                **common,
                **latency_fields(1e3 * host.invoke_seconds, 1, C_WARMUP * len(tensors)),
                **edge_figures(_dequantize(host.outputs, record), native, labels, keras_labels),
                bit_exact=bool(np.array_equal(host.outputs, reference)),
            )
        ]
        env["host"] = {"bit_exact_images": len(tensors), "compiler": record["host"]["compiler"]}
        missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
        if qemu_images and not missing:
            n = min(qemu_images, len(tensors))
            elf = build_m4_firmware(generated, bundle, build / "firmware.elf")
            timeout = 120 + 60 * n * generated.macs / 5e8
            m4 = run_m4_images(elf, tensors[:n], generated.output_size, timeout_s=timeout)
            stack = m4.stack_bytes
            rows.append(
                BenchRow(
                    artifact=f"c/{record['name']}.c",
                    engine="generated C99 on a Cortex-M4 (QEMU mps2-an386, arm-none-eabi-gcc -O2)",
                    provider="cortex-m4",
                    size_bytes=record["flash"]["weights_bytes"],
                    n_samples=m4.images,
                    **{**common, "ram_bytes": record["ram"]["activation_bytes"] + stack},
                    **edge_figures(
                        _dequantize(m4.outputs, record),
                        native[:n],
                        labels[:n],
                        None if keras_labels is None else keras_labels[:n],
                    ),
                    bit_exact=bool(np.array_equal(m4.outputs, host.outputs[:n])),
                    instructions_per_inference=round(m4.instructions_mean, 1),
                    instructions_per_mac=round(m4.instructions_mean / max(generated.macs, 1), 3),
                )
            )
            env["cortex_m4"] = {
                "images": m4.images,
                "qemu_wall_s": round(m4.wall_s, 2),
                "stack_bytes": stack,
                "instructions_min": m4.instructions_min,
                "instructions_max": m4.instructions_max,
            }
        else:
            why = "qemu_images is 0" if not qemu_images else f"{' and '.join(missing)} not installed"
            env["cortex_m4"] = {"skipped": why}
    return rows, env
