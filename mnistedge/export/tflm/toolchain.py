"""Compile generated C++ for the host or a Cortex-M4, and measure what the object file holds.

Used to prove the generated sources are real C++ (warnings are errors), to read their flash
footprint with ``size``, and to check that the bytes the compiler placed in the object are the
.tflite file's bytes. The GNU tools run as subprocesses; a missing one raises with the package
to install.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TOOLCHAINS",
    "SymbolLocation",
    "Toolchain",
    "compile_object",
    "embedded_bytes",
    "find_symbol",
    "object_size",
]

_WARNINGS_ARE_ERRORS = ("-std=c++17", "-Wall", "-Wextra", "-Werror")
_SYSTEM_DEPS = "or run scripts/system-deps.sh"
_EM_ARM = 40  # ELF e_machine of 32-bit ARM objects


@dataclass(frozen=True)
class Toolchain:
    """One compiler and the binutils that read its objects."""

    compiler: str
    flags: tuple[str, ...]
    binutils_prefix: str  # "" for the host's size/readelf, "arm-none-eabi-" for ARM's
    install: str  # the Debian packages that provide it


TOOLCHAINS: dict[str, Toolchain] = {
    "host": Toolchain("g++", _WARNINGS_ARE_ERRORS, "", "apt-get install g++ binutils"),
    "cortex-m4": Toolchain(
        "arm-none-eabi-g++",
        ("-mcpu=cortex-m4", "-mthumb", "-Os", *_WARNINGS_ARE_ERRORS),
        "arm-none-eabi-",
        "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
    ),
}


@dataclass(frozen=True)
class SymbolLocation:
    """Where a defined data symbol's bytes lie in an ELF file."""

    symbol: str
    section: str  # ".rodata", or ".rodata.<symbol>" when compiled with -fdata-sections
    size: int  # bytes
    file_offset: int  # where its bytes start in the file
    alignment: int  # the section's alignment in bytes (alignas(16) makes it at least 16)


def _tool(name: str, install: str, purpose: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(
            f"{name} is not installed, and {purpose} needs it. Install it with: {install} ({_SYSTEM_DEPS})."
        )
    return path


def _run(command: list[str], what: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{result.stderr.strip()}"
        )
    return result.stdout


def compile_object(source: Path, out: Path, *, target: str) -> Path:
    """Compile one C++ file to an object file with warnings as errors; returns ``out``.

    Args:
        source: the .cc file; headers it includes with quotes are found beside it.
        out: the object file to write (its folder is created).
        target: a key of :data:`TOOLCHAINS`, "host" or "cortex-m4".

    Raises:
        ValueError: an unknown target.
        FileNotFoundError: the compiler is not installed (the message says how to install it).
        RuntimeError: the compiler rejected the source; carries its error output.
    """
    if target not in TOOLCHAINS:
        raise ValueError(f"Unknown target {target!r}. Known targets: {', '.join(TOOLCHAINS)}.")
    chain = TOOLCHAINS[target]
    compiler = _tool(chain.compiler, chain.install, f"compiling for {target}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    _run([compiler, *chain.flags, "-c", str(source), "-o", str(out)], f"Compiling {source} for {target}")
    return Path(out)


def _binutil(obj: Path, name: str) -> str:
    """The binutil ``name`` that reads ``obj``: ARM objects need arm-none-eabi-'s, others the host's."""
    header = Path(obj).read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise ValueError(f"{obj} is not an ELF object file: compile it with compile_object() first.")
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    chain = TOOLCHAINS["cortex-m4" if machine == _EM_ARM else "host"]
    return _tool(chain.binutils_prefix + name, chain.install, f"reading {Path(obj).name}")


def object_size(obj: Path) -> dict[str, int]:
    """``size`` (Berkeley format) of an object: ``{"text", "data", "bss", "dec"}`` in bytes.

    ``text`` is what goes to flash, read-only data such as the model array included; ``bss``
    is zero-initialised RAM.
    """
    output = _run([_binutil(obj, "size"), "--format=berkeley", str(obj)], f"Measuring {obj}")
    values = output.splitlines()[1].split()
    return {key: int(value) for key, value in zip(("text", "data", "bss", "dec"), values, strict=False)}


# readelf -SW: "  [ 4] .rodata.g_x  PROGBITS  00000000 000034 0000c8 00   A  0   0 16"
_SECTION = re.compile(
    r"^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s.*?(\d+)\s*$"
)
# readelf -sW: "     9: 00000000 75096 OBJECT  GLOBAL DEFAULT    4 g_x" (sizes >= 100000 in 0x hex)
_SYMBOL = re.compile(r"^\s*\d+:\s+([0-9a-f]+)\s+(\S+)\s+\w+\s+\w+\s+\w+\s+(\S+)\s+(\S+)\s*$")


def find_symbol(obj: Path, symbol: str) -> SymbolLocation:
    """Locate a defined symbol's bytes in an ELF object (read with ``readelf``).

    Raises:
        KeyError: the object defines no symbol of that name in a section with contents.
    """
    readelf = _binutil(obj, "readelf")
    sections = {}
    for line in _run([readelf, "-SW", str(obj)], f"Reading the sections of {obj}").splitlines():
        if match := _SECTION.match(line):
            index, name, kind, address, offset, _size, align = match.groups()
            sections[index] = (name, kind, int(address, 16), int(offset, 16), int(align))
    for line in _run([readelf, "-sW", str(obj)], f"Reading the symbols of {obj}").splitlines():
        match = _SYMBOL.match(line)
        if match is None or match.group(4) != symbol or match.group(3) not in sections:
            continue
        name, kind, address, offset, align = sections[match.group(3)]
        if kind == "NOBITS":  # .bss: no bytes in the file
            continue
        # In an object file a symbol's value is its offset in the section (address 0); in a linked
        # file it is an address, so subtract the section's.
        start = offset + int(match.group(1), 16) - address
        return SymbolLocation(symbol, name, int(match.group(2), 0), start, align)
    raise KeyError(
        f"{obj} defines no symbol {symbol!r} with contents; was it compiled from the right source?"
    )


def embedded_bytes(obj: Path, symbol: str) -> bytes:
    """The bytes of the data symbol ``symbol`` (e.g. ``g_mnist_model``) as stored in ``obj``."""
    where = find_symbol(obj, symbol)
    return Path(obj).read_bytes()[where.file_offset : where.file_offset + where.size]
