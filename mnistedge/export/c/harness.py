"""Build and run the generated C: on the host with gcc, and on a Cortex-M4 under QEMU.

Both builds link the same ``harness/mnist_main.c``, which reads quantized images from a file
and writes the int8 outputs back (semihosted on the M4), so the two runs are compared byte for
byte. The M4 run also reports guest instructions per inference and the model's stack depth.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistedge.export.c.codegen import KERNEL_DIR, GeneratedC

__all__ = [
    "HOST_CFLAGS",
    "HostRun",
    "M4Run",
    "build_host",
    "build_m4_firmware",
    "m4_model_size",
    "run_host",
    "run_m4_images",
    "write_sources",
]

HARNESS = Path(__file__).resolve().parent / "harness" / "mnist_main.c"
# The strictness the generated sources must pass (the bar), plus -pedantic.
HOST_CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2")


@dataclass(frozen=True)
class HostRun:
    outputs: np.ndarray  # (N, output size) int8
    seconds: float  # wall time of all inferences (repeat passes included)
    images: int
    repeat: int
    invoke_seconds: np.ndarray  # (N,) each invoke of the last pass, timed around the call

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / (self.images * self.repeat)


@dataclass(frozen=True)
class M4Run:
    outputs: np.ndarray  # (N, output size) int8
    images: int
    instructions_min: int  # per inference, guest instructions (SysTick under -icount shift=0)
    instructions_max: int
    instructions_mean: float
    stack_bytes: int  # deepest stack below the harness frame during an inference (upper bound)
    wall_s: float


def write_sources(generated: GeneratedC, folder: Path) -> list[Path]:
    """Write ``<name>.h``, ``<name>.c`` and the kernel headers they include into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file, text in ((f"{generated.name}.h", generated.header), (f"{generated.name}.c", generated.source)):
        (folder / file).write_text(text)
        written.append(folder / file)
    for header in ("mnist_int8.h", *generated.kernel_headers):
        shutil.copyfile(KERNEL_DIR / header, folder / header)
        written.append(folder / header)
    return list(dict.fromkeys(written))


def _defines(generated: GeneratedC) -> list[str]:
    return [
        f'MODEL_HEADER="{generated.name}.h"',
        f"MODEL_INVOKE={generated.name}_invoke",
        f"MODEL_INPUT_SIZE={generated.input_size}",
        f"MODEL_OUTPUT_SIZE={generated.output_size}",
    ]


def _gcc() -> str:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise FileNotFoundError(
            "No host C compiler (gcc): install it with `apt-get install gcc` to build the generated C."
        )
    return gcc


def build_host(generated: GeneratedC, folder: Path, exe: Path) -> Path:
    """Compile the sources in ``folder`` (see write_sources) and the harness with the host gcc.

    Raises:
        RuntimeError: the compiler failed (its stderr in the message).
    """
    command = [
        _gcc(), *HOST_CFLAGS, f"-I{folder}", *(f"-D{d}" for d in _defines(generated)),
        str(folder / f"{generated.name}.c"), str(HARNESS), "-o", str(exe),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"The generated C does not compile: {' '.join(command)}\n{result.stderr.strip()}")
    return exe


def run_host(
    exe: Path, images: np.ndarray, output_size: int, *, repeat: int = 1, timeout_s: float = 600
) -> HostRun:
    """Run the host build on int8 images (N, ...) (N <= 10,000); outputs and the timed wall seconds."""
    images = np.ascontiguousarray(images, dtype=np.int8).reshape(len(images), -1)
    with tempfile.TemporaryDirectory(prefix="mnistedge-c-") as tmp:
        src, dst, times = (Path(tmp) / f for f in ("images.bin", "outputs.bin", "times.bin"))
        src.write_bytes(images.tobytes())
        command = [str(exe), str(src), str(dst), str(repeat), str(times)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if result.returncode != 0:
            raise RuntimeError(f"{exe.name} exited with {result.returncode}: {result.stderr.strip()}")
        outputs = np.frombuffer(dst.read_bytes(), dtype=np.int8).reshape(len(images), output_size)
        invoke_seconds = np.frombuffer(times.read_bytes(), dtype=np.float64)
    seconds = float(re.search(r"seconds=([0-9.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    return HostRun(outputs.copy(), seconds, len(images), repeat, invoke_seconds.copy())


def build_m4_firmware(generated: GeneratedC, folder: Path, elf: Path, *, opt: str = "-O2") -> Path:
    """Cross-compile the sources in ``folder`` and the harness for the Cortex-M4 (QEMU mps2-an386)."""
    from mnistedge.export.c.qemu import build_m4

    return build_m4(
        [folder / f"{generated.name}.c", HARNESS],
        elf,
        include_dirs=[folder],
        defines=["MNIST_M4", *_defines(generated)],
        opt=opt,
    )


def m4_model_size(generated: GeneratedC, folder: Path, *, opt: str = "-O2") -> dict[str, int]:
    """The model's own footprint on the M4: its object file alone, as arm-none-eabi-size reports it.

    ``text`` = code + const weights (flash), ``data`` (flash and RAM), ``bss`` = the activation
    buffer (RAM). libc and the harness are not in it.
    """
    from mnistedge.export.c.qemu import CORTEX_M4_CFLAGS, _tool, elf_size

    gcc = _tool("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    with tempfile.TemporaryDirectory(prefix="mnistedge-c-") as tmp:
        obj = Path(tmp) / f"{generated.name}.o"
        command = [
            gcc,
            *CORTEX_M4_CFLAGS,
            opt,
            f"-I{folder}",
            "-c",
            str(folder / f"{generated.name}.c"),
            "-o",
            str(obj),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"Cross-compiling {generated.name}.c failed: {result.stderr.strip()}")
        return elf_size(obj)


def run_m4_images(elf: Path, images: np.ndarray, output_size: int, *, timeout_s: float = 900) -> M4Run:
    """Run the firmware under QEMU on int8 images; outputs, instructions per inference, stack depth.

    Raises:
        RuntimeError: the firmware exited non-zero (a fault exits 131..134) or printed no figures.
    """
    from mnistedge.export.c.qemu import run_m4

    images = np.ascontiguousarray(images, dtype=np.int8).reshape(len(images), -1)
    with tempfile.TemporaryDirectory(prefix="mnistedge-m4-", dir=elf.parent) as tmp:
        src, dst = Path(tmp) / "images.bin", Path(tmp) / "outputs.bin"
        src.write_bytes(images.tobytes())
        run = run_m4(elf, args=(str(src), str(dst)), timeout_s=timeout_s)
        if run.exit_code != 0:
            raise RuntimeError(
                f"The Cortex-M4 firmware exited with {run.exit_code}: {run.stdout} {run.stderr}"
            )
        outputs = np.frombuffer(dst.read_bytes(), dtype=np.int8).reshape(len(images), output_size)
    figures = dict(re.findall(r"(\w+)=(\d+)", run.stdout))
    if "images" not in figures:
        raise RuntimeError(f"The firmware printed no figures: {run.stdout!r}")
    total = (int(figures["instructions_total_hi"]) << 32) + int(figures["instructions_total_lo"])
    n = int(figures["images"])
    return M4Run(
        outputs=outputs.copy(),
        images=n,
        instructions_min=int(figures["instructions_min"]),
        instructions_max=int(figures["instructions_max"]),
        instructions_mean=total / n,
        stack_bytes=int(figures["stack_bytes"]),
        wall_s=run.wall_s,
    )
