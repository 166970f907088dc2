"""Standalone C: int8 inference as plain C99, and a Cortex-M4 under QEMU to run and measure it."""

from mnistedge.export.c.bundle import CBundle, export_c

__all__ = ["CBundle", "export_c"]
