"""The project's goals, checked against a report's summary (the end of `mnistedge run`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["GOALS", "Goal", "GoalResult", "check_goals"]


@dataclass(frozen=True)
class Goal:
    name: str
    target: str  # in words, e.g. ">= 99.40 %"
    value: Callable[[dict[str, Any]], float | None]  # read from Report.summary
    met: Callable[[float], bool] | None  # None: reported for information, no target
    fmt: Callable[[float], str]


@dataclass(frozen=True)
class GoalResult:
    name: str
    target: str
    value: float | None
    text: str  # the value formatted, "n/a" when it was not measured
    met: bool | None  # None: not measured, or no target

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quantized(summary: dict[str, Any], fmt: str, field: str) -> float | None:
    for entry in summary.get("quantized", {}).values():
        if entry["format"] == fmt and entry["quantization"] == "int8":
            return entry.get(field)
    return None


def _overhead(summary: dict[str, Any], engine: str) -> float | None:
    return (summary.get("overhead_ratio") or {}).get(engine)


def _speedup(summary: dict[str, Any]) -> float | None:
    return (summary.get("fastest_batch1") or {}).get("speedup_vs_keras")


# Targets from the issues: train (>= 99.4 %), export (int8 drop <= 0.1 pp, size <= 0.30x),
# runtime (wrapper p50 <= 1.15x the bare engine call at batch 1).
GOALS: tuple[Goal, ...] = (
    Goal(
        "float accuracy (Keras)",
        ">= 99.40 %",
        lambda s: s.get("float_accuracy"),
        lambda v: v >= 0.994,
        lambda v: f"{100 * v:.2f} %",
    ),
    Goal(
        "int8 TFLite accuracy delta",
        ">= -0.10 pp",
        lambda s: _quantized(s, "tflite", "accuracy_delta_pp"),
        lambda v: v >= -0.1,
        lambda v: f"{v:+.2f} pp",
    ),
    Goal(
        "int8 ONNX accuracy delta",
        ">= -0.10 pp",
        lambda s: _quantized(s, "onnx", "accuracy_delta_pp"),
        lambda v: v >= -0.1,
        lambda v: f"{v:+.2f} pp",
    ),
    Goal(
        "runtime overhead, LiteRT (batch 1, fewest threads)",
        "<= 1.15x",
        lambda s: _overhead(s, "litert"),
        lambda v: v <= 1.15,
        lambda v: f"{v:.2f}x",
    ),
    Goal(
        "runtime overhead, ONNX Runtime (batch 1, fewest threads)",
        "<= 1.15x",
        lambda s: _overhead(s, "onnxruntime"),
        lambda v: v <= 1.15,
        lambda v: f"{v:.2f}x",
    ),
    Goal("speed-up over Keras model(x) (batch 1)", "> 1x", _speedup, lambda v: v > 1, lambda v: f"{v:.0f}x"),
    Goal(
        "int8 TFLite size / fp32",
        "<= 0.30x",
        lambda s: _quantized(s, "tflite", "size_ratio"),
        lambda v: v <= 0.30,
        lambda v: f"{v:.2f}x",
    ),
    Goal(
        "int8 ONNX size / fp32",
        "(info)",
        lambda s: _quantized(s, "onnx", "size_ratio"),
        None,
        lambda v: f"{v:.2f}x",
    ),
)


def check_goals(summary: dict[str, Any]) -> list[GoalResult]:
    """Each goal's measured value and whether it was met (None when not measured)."""
    results = []
    for goal in GOALS:
        value = goal.value(summary)
        results.append(
            GoalResult(
                goal.name,
                goal.target,
                value,
                "n/a" if value is None else goal.fmt(value),
                None if value is None or goal.met is None else bool(goal.met(value)),
            )
        )
    return results
