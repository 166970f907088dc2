"""Build a C program for a Cortex-M4 and run it under QEMU, with its output and exit status.

The board is QEMU's ``mps2-an386`` (a Cortex-M4 with FPU). ``m4/startup.c`` and ``m4/link.ld``
beside this module boot it; newlib's semihosting (``--specs=rdimon.specs``) gives the program
printf, fopen/fread on host files and argv, and turns main's return value into QEMU's exit
status. QEMU runs with ``-icount shift=0``, one guest instruction per nanosecond of virtual time,
so ``m4/m4_timing.h`` can count instructions with SysTick (QEMU does not emulate the DWT cycle
counter): include it and call ``m4_timer_start()`` / ``m4_instructions_since_start()``.
``m4_stack_high_water()`` (same header) gives the deepest stack use since reset, in bytes.

A program that faults exits with 128 + the exception number: 131 HardFault, 132 MemManage,
133 BusFault, 134 UsageFault. newlib-nano's printf has no ``%llu`` or ``%f``: print a 64-bit
count as ``(unsigned long)`` and a float scaled to an integer.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CORTEX_M4_CFLAGS",
    "CORTEX_M4_LDFLAGS",
    "M4_DIR",
    "QemuRun",
    "build_m4",
    "elf_size",
    "run_m4",
]

M4_DIR = Path(__file__).parent / "m4"  # startup.c, link.ld, m4_timing.h; on the include path

CORTEX_M4_CFLAGS: tuple[str, ...] = (
    "-mcpu=cortex-m4",
    "-mthumb",
    "-mfloat-abi=hard",  # float in FPU registers; startup.c turns the FPU on
    "-mfpu=fpv4-sp-d16",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-ffunction-sections",  # with --gc-sections, unused functions and data cost no flash
    "-fdata-sections",
)
CORTEX_M4_LDFLAGS: tuple[str, ...] = (
    "--specs=nano.specs",  # newlib-nano: a small printf, no %f or %llu
    "--specs=rdimon.specs",  # semihosting: stdio, host files, argv and exit status via QEMU
    "-Wl,--gc-sections",
    f"-T{M4_DIR / 'link.ld'}",
    "-lm",
)

_GCC_INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
_QEMU_INSTALL = "apt-get install qemu-system-arm"
_QEMU_MACHINE = ("-M", "mps2-an386", "-cpu", "cortex-m4")
_MAX_ARGS = 16  # startup.c's MAX_ARGS and MAX_CMDLINE: argv[0] included, the NUL included
_MAX_CMDLINE = 1024


@dataclass(frozen=True)
class QemuRun:
    """What one run of a program under QEMU gave back."""

    exit_code: int  # main's return value (or exit()'s argument), 131..134 for a fault
    stdout: str  # the program's stdout (semihosted)
    stderr: str  # the program's stderr and QEMU's own messages
    wall_s: float  # host seconds from starting QEMU to its exit


def _tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(
            f"{name} is not installed; the Cortex-M4 target needs it. "
            f"Install it with: {install} (or run scripts/system-deps.sh)."
        )
    return path


def build_m4(
    sources: Sequence[Path],
    out_elf: Path,
    *,
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
    opt: str = "-O2",
) -> Path:
    """Compile and link C sources with the startup file and linker script into a Cortex-M4 ELF.

    Args:
        sources: the program's .c files (startup.c is added).
        out_elf: where to write the ELF; its folder is created.
        include_dirs: added to the include path after ``M4_DIR`` (so ``m4_timing.h`` is found).
        defines: ``NAME`` or ``NAME=VALUE``, passed as ``-D``.
        opt: the optimisation flag, e.g. ``-O2``, ``-Os``, ``-O0``.

    Returns:
        ``out_elf``.

    Raises:
        FileNotFoundError: the toolchain is not installed, or a source does not exist.
        RuntimeError: the compiler or linker failed; the message holds its stderr.
    """
    gcc = _tool("arm-none-eabi-gcc", _GCC_INSTALL)
    missing = [str(source) for source in sources if not Path(source).is_file()]
    if missing:
        raise FileNotFoundError(f"C sources not found: {', '.join(missing)}.")
    out_elf = Path(out_elf)
    out_elf.parent.mkdir(parents=True, exist_ok=True)
    command = [
        gcc,
        *CORTEX_M4_CFLAGS,
        opt,
        f"-I{M4_DIR}",
        *(f"-I{folder}" for folder in include_dirs),
        *(f"-D{define}" for define in defines),
        *(str(source) for source in sources),
        str(M4_DIR / "startup.c"),
        *CORTEX_M4_LDFLAGS,
        "-o",
        str(out_elf),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"Building {out_elf.name} for the Cortex-M4 failed (exit {result.returncode}): "
            f"{' '.join(command)}\n{result.stderr.strip()}"
        )
    return out_elf


def elf_size(elf: Path) -> dict[str, int]:
    """``arm-none-eabi-size`` of an ELF: ``{"text", "data", "bss"}`` in bytes.

    ``text`` is code and read-only data (flash); ``data`` is stored in flash and copied to RAM;
    ``bss`` is zeroed RAM. Heap and stack are not included.
    """
    size = _tool("arm-none-eabi-size", _GCC_INSTALL)
    result = subprocess.run(
        [size, "--format=berkeley", str(elf)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"arm-none-eabi-size could not read {elf}: {result.stderr.strip()}")
    text, data, bss = result.stdout.splitlines()[1].split()[:3]
    return {"text": int(text), "data": int(data), "bss": int(bss)}


def _semihosting_config(elf: Path, args: Sequence[str]) -> str:
    for arg in args:
        # startup.c splits the command line at spaces, as newlib's crt0 does.
        if not arg or " " in arg:
            raise ValueError(f"Program arguments cannot be empty or contain spaces. Got: {arg!r}")
    argv = [elf.name, *args]
    if len(argv) > _MAX_ARGS or len(" ".join(argv)) >= _MAX_CMDLINE:
        raise ValueError(
            f"The program's command line is too long for startup.c: {len(argv)} arguments, "
            f"{len(' '.join(argv))} characters; at most {_MAX_ARGS} and {_MAX_CMDLINE - 1}. "
            "Pass fewer or shorter arguments (e.g. a relative path), or raise both limits together."
        )
    # QEMU's option parser reads ",," as a literal comma.
    return ",".join(["enable=on", "target=native", *(f"arg={a.replace(',', ',,')}" for a in argv)])


def run_m4(elf: Path, *, timeout_s: float = 120, args: Sequence[str] = ()) -> QemuRun:
    """Run a Cortex-M4 ELF under QEMU's mps2-an386 until it exits.

    Args:
        elf: built by ``build_m4``.
        timeout_s: host seconds to wait; QEMU runs about 10^9 guest instructions a second.
        args: the program's argv after argv[0] (the ELF's name); host paths a program opens
            with fopen may be relative to the current directory or absolute.

    Raises:
        FileNotFoundError: qemu-system-arm is not installed, or ``elf`` does not exist.
        TimeoutError: the program did not exit within ``timeout_s`` (QEMU is killed).
    """
    qemu = _tool("qemu-system-arm", _QEMU_INSTALL)
    elf = Path(elf)
    if not elf.is_file():
        raise FileNotFoundError(f"{elf} does not exist: build it with build_m4() first.")
    command = [
        qemu,
        *_QEMU_MACHINE,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        _semihosting_config(elf, args),
        "-icount",
        "shift=0",  # 1 instruction = 1 ns of virtual time, so SysTick counts instructions
        "-kernel",
        str(elf),
    ]
    start = time.perf_counter()
    try:
        # On timeout, subprocess.run kills QEMU before raising.
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise TimeoutError(
            f"{elf.name} did not exit in {timeout_s:g} s under QEMU; QEMU was killed. "
            "Check that main returns, or pass a larger timeout_s."
        ) from None
    return QemuRun(
        exit_code=result.returncode,
        stdout=result.stdout.decode(errors="replace"),
        stderr=result.stderr.decode(errors="replace"),
        wall_s=time.perf_counter() - start,
    )
