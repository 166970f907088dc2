"""The microcontroller target: TensorFlow Lite Micro sources, a measured arena, board fit, TFLM fidelity."""
