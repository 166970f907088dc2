"""Which microcontroller boards the model fits: flash for the model and TFLM, RAM for the arena and TFLM.

The boards' flash and RAM are the manufacturers' figures (``Board.source`` names the document).
TFLM's own footprint cannot be measured here: its C++ sources are on no package registry, so
nothing is cross-compiled; :data:`TFLM_RUNTIME_ESTIMATE` is an estimate with its sources. The
fit covers the model and TFLM only; the rest of the firmware (an RTOS, Wi-Fi and BLE stacks,
the application) needs its own share, which the percentages leave visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "BOARDS",
    "TFLM_RUNTIME_ESTIMATE",
    "Board",
    "BoardFit",
    "RuntimeEstimate",
    "board_fit",
    "fit_table_markdown",
]

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Board:
    """A development board: its MCU, core, and the flash and RAM its manufacturer states."""

    name: str
    mcu: str
    core: str
    flash_bytes: int  # program flash (on-chip, or the board's external QSPI flash where stated)
    ram_bytes: int  # on-chip SRAM a tensor arena can live in
    source: str  # the manufacturer's document the figures come from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BOARDS: tuple[Board, ...] = (
    Board(
        "Arduino Nano 33 BLE Sense",
        "Nordic nRF52840",
        "Arm Cortex-M4F, 64 MHz",
        1 * MIB,
        256 * KIB,
        "Arduino Nano 33 BLE Sense (ABX00031) tech specs; Nordic nRF52840 Product Specification "
        "(1 MB flash, 256 KB RAM). The Arduino core's bootloader keeps 64 KB: the IDE reports "
        "983,040 bytes of program storage.",
    ),
    Board(
        "Raspberry Pi Pico",
        "Raspberry Pi RP2040",
        "dual Arm Cortex-M0+, 133 MHz",
        2 * MIB,
        264 * KIB,
        "Raspberry Pi Pico datasheet and RP2040 datasheet: 264 KB on-chip SRAM, 2 MB QSPI flash on "
        "the board (the RP2040 has no on-chip flash; code executes in place from it).",
    ),
    Board(
        "ESP32-S3-DevKitC-1 (N8R8)",
        "Espressif ESP32-S3 (module ESP32-S3-WROOM-1-N8R8)",
        "dual Xtensa LX7, 240 MHz",
        8 * MIB,
        512 * KIB,
        "Espressif ESP32-S3 Series Datasheet (512 KB SRAM, 384 KB ROM) and ESP32-S3-DevKitC-1 user "
        "guide: the N8R8 variant's module has 8 MB Quad SPI flash and 8 MB Octal PSRAM. Only the "
        "internal SRAM is counted; ESP-IDF and Wi-Fi take part of it, and an arena may go to PSRAM.",
    ),
    Board(
        "STM32F746G Discovery",
        "ST STM32F746NGH6",
        "Arm Cortex-M7, 216 MHz",
        1 * MIB,
        320 * KIB,
        "ST 32F746GDISCOVERY product page / UM1907 and the STM32F746xx datasheet (DS10916): 1 MB "
        "flash, 320 KB SRAM incl. 64 KB DTCM (ST's '340 KB' adds 16 KB ITCM and 4 KB backup SRAM).",
    ),
    Board(
        "SparkFun Edge",
        "Ambiq Apollo3 Blue",
        "Arm Cortex-M4F, 48 MHz (96 MHz burst)",
        1 * MIB,
        384 * KIB,
        "SparkFun Edge Development Board (DEV-15170) product page and Ambiq Apollo3 Blue datasheet: "
        "1 MB flash, 384 KB SRAM.",
    ),
)


@dataclass(frozen=True)
class RuntimeEstimate:
    """TFLM's own footprint beside the model and the arena: an estimate, not a measurement."""

    flash_bytes: int  # interpreter + the registered kernels' code and constants
    ram_bytes: int  # interpreter and op-resolver objects, static data, the kernels' stack
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "estimate": True}


# TFLM's documentation: "The core runtime just fits in 16 KB on an Arm Cortex M3" (TFLM overview,
# tensorflow.org / ai.google.dev LiteRT for Microcontrollers); its older overview put the core
# plus the ops of the speech keyword model at 22 KB, and the TinyML book (Warden & Situnayake,
# O'Reilly 2019, ch. 17) says TFLM works "with as little as 20 KB of flash and 4 KB of SRAM".
# Real builds are larger: newer TFLM, MicroPrintf and libm (softmax's expf) add code, and a user
# measured ~160 KB of .text with every op linked (tensorflow/tensorflow#48073). Our models
# register five to six reference kernels (CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED,
# SOFTMAX, ...), so 64 KiB of flash (about three times the documented 22 KB) and 8 KiB of RAM
# (twice the book's 4 KB, for the resolver, static data and stack) leave room for that.
TFLM_RUNTIME_ESTIMATE = RuntimeEstimate(
    flash_bytes=64 * KIB,
    ram_bytes=8 * KIB,
    source=(
        "Estimate; TFLM is not built here (its C++ sources are on no package registry). TFLM docs: "
        "core runtime fits in 16 KB on a Cortex-M3, 22 KB with a keyword model's ops; TinyML (O'Reilly, "
        "2019) ch. 17: as little as 20 KB flash and 4 KB SRAM; tensorflow/tensorflow#48073: ~160 KB "
        ".text with all ops linked. Taken as 64 KiB flash and 8 KiB RAM for this model's 5-6 "
        "reference kernels, MicroPrintf and libm."
    ),
)


@dataclass(frozen=True)
class BoardFit:
    """Whether the model, its arena and TFLM fit one board."""

    board: Board
    flash_needed_bytes: int  # model + TFLM runtime estimate
    ram_needed_bytes: int  # arena + TFLM runtime estimate
    flash_percent: float  # of the board's flash
    ram_percent: float  # of the board's RAM
    fits: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "board": self.board.name,
            "mcu": self.board.mcu,
            "core": self.board.core,
            "flash_bytes": self.board.flash_bytes,
            "ram_bytes": self.board.ram_bytes,
            "flash_needed_bytes": self.flash_needed_bytes,
            "ram_needed_bytes": self.ram_needed_bytes,
            "flash_percent": self.flash_percent,
            "ram_percent": self.ram_percent,
            "fits": self.fits,
            "source": self.board.source,
        }


def board_fit(
    model_flash_bytes: int,
    arena_bytes: int,
    *,
    boards: Sequence[Board] = BOARDS,
    runtime: RuntimeEstimate = TFLM_RUNTIME_ESTIMATE,
) -> list[BoardFit]:
    """Flash and RAM the model needs on each board, and whether it fits.

    Args:
        model_flash_bytes: the model's flatbuffer size (it stays in flash, read in place).
        arena_bytes: the tensor arena to compile in (e.g. ``ArenaMeasurement.recommended_bytes``).
        boards: the boards to check.
        runtime: TFLM's own footprint, added to both.

    Raises:
        ValueError: a negative size.
    """
    for label, value in (("model_flash_bytes", model_flash_bytes), ("arena_bytes", arena_bytes)):
        if value < 0:
            raise ValueError(f"{label} must be >= 0 bytes, got {value}")
    flash = int(model_flash_bytes) + runtime.flash_bytes
    ram = int(arena_bytes) + runtime.ram_bytes
    return [
        BoardFit(
            board=board,
            flash_needed_bytes=flash,
            ram_needed_bytes=ram,
            flash_percent=round(100 * flash / board.flash_bytes, 2),
            ram_percent=round(100 * ram / board.ram_bytes, 2),
            fits=flash <= board.flash_bytes and ram <= board.ram_bytes,
        )
        for board in boards
    ]


def fit_table_markdown(fits: Sequence[BoardFit]) -> str:
    """A Markdown table of :func:`board_fit`'s result, one row a board."""
    rows = [
        "| Board | MCU | Flash needed | RAM needed | Fits |",
        "|---|---|---:|---:|:---:|",
    ]
    for fit in fits:
        board = fit.board
        rows.append(
            f"| {board.name} | {board.mcu} "
            f"| {_kib(fit.flash_needed_bytes)} of {_size(board.flash_bytes)} ({fit.flash_percent:.1f} %) "
            f"| {_kib(fit.ram_needed_bytes)} of {_size(board.ram_bytes)} ({fit.ram_percent:.1f} %) "
            f"| {'yes' if fit.fits else 'no'} |"
        )
    return "\n".join(rows) + "\n"


def _kib(n: int) -> str:
    return f"{n / KIB:,.1f} KiB"


def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n // KIB} KiB"
