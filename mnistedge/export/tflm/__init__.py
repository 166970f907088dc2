"""The microcontroller target: TensorFlow Lite Micro sources, a measured arena, board fit, TFLM fidelity."""

from mnistedge.export.tflm.bundle import TflmBundle, export_tflm, int8_source

__all__ = ["TflmBundle", "export_tflm", "int8_source"]
