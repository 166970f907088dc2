"""The project's goals, checked against a report's summary (the end of `mnistedge run`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from mnistedge.core.accuracy import TARGET_METRICS, Target

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


def _browser(summary: dict[str, Any], *path: str) -> float | None:
    value: Any = summary.get("browser")
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _target_goal(summary: dict[str, Any]) -> GoalResult:
    """The trained model's own accuracy target (train.json beside it), checked on this run."""
    record = summary.get("target")
    if not record:
        value = summary.get("float_accuracy")
        text = "n/a" if value is None else f"{100 * value:.2f} %"
        return GoalResult("float accuracy (Keras)", "none recorded (no train.json)", value, text, None)
    target = Target.from_dict(record)
    arch = record.get("arch") or "model"
    if target.metric == "test_accuracy":  # measured here, on the same test images as every artifact
        name, value = f"Keras test accuracy ({arch} target)", summary.get("float_accuracy")
    else:  # training accuracy cannot be measured on the test set: train.json's figure
        name, value = (
            f"Keras {TARGET_METRICS[target.metric]} ({arch} target, train.json)",
            record.get("value"),
        )
    text = "n/a" if value is None else f"{100 * value:.2f} %"
    return GoalResult(name, target.stated, value, text, None if value is None else target.met(value))


# Targets from the issues: export (int8 drop <= 0.1 pp, size <= 0.30x),
# runtime (wrapper p50 <= 1.15x the bare engine call at batch 1). The model's own accuracy
# target comes from train.json (see _target_goal).
GOALS: tuple[Goal, ...] = (
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
    # The browser target (issue 12): same answers as the Python runtime on the same file, and fast.
    Goal(
        "browser: label agreement with Python, worst model",
        ">= 99.90 %",
        lambda s: _browser(s, "min_native_agreement", "native_agreement"),
        lambda v: v >= 0.999,
        lambda v: f"{100 * v:.2f} %",
    ),
    Goal(
        "browser: label agreement with Python, float models",
        "= 100 %",
        lambda s: _browser(s, "float_min_native_agreement"),
        lambda v: v == 1.0,
        lambda v: f"{100 * v:.2f} %",
    ),
    Goal(
        "browser: accuracy gap to Python, worst model",
        "<= 0.05 pp",
        lambda s: _browser(s, "max_native_accuracy_gap_pp", "native_accuracy_delta_pp"),
        lambda v: abs(v) <= 0.05,
        lambda v: f"{v:+.2f} pp",
    ),
    Goal(
        "browser: best batch-1 p50, threads on",
        "<= 0.25 ms",
        lambda s: _browser(s, "fastest_batch1", "p50_ms"),
        lambda v: v <= 0.25,
        lambda v: f"{v:.3f} ms",
    ),
    Goal(
        "TFLM: label agreement with LiteRT's reference kernels",
        ">= 99.90 %",
        lambda s: (s.get("tflm") or {}).get("native_agreement"),
        lambda v: v >= 0.999,
        lambda v: f"{100 * v:.2f} %",
    ),
    Goal(
        "C: int8 outputs equal to LiteRT's reference kernels",
        "every output",
        lambda s: (s.get("c") or {}).get("bit_exact"),
        lambda v: v is True,
        lambda v: "bit-exact" if v else "differs",
    ),
    Goal(
        "C: RAM (activations + stack) vs the TFLM row's arena",
        "<= 70 %",
        lambda s: (s.get("c") or {}).get("ram_vs_tflm_arena"),
        lambda v: v <= 0.70,
        lambda v: f"{100 * v:.0f} %",
    ),
    Goal(
        "C: Cortex-M4 instructions per MAC",
        "<= 2",
        lambda s: (s.get("c") or {}).get("instructions_per_mac"),
        lambda v: v <= 2.0,
        lambda v: f"{v:.2f}",
    ),
    Goal(
        "browser: best batch-64 throughput, threads on",
        ">= 15,000 img/s",
        lambda s: _browser(s, "best_throughput", "throughput_ips"),
        lambda v: v >= 15_000,
        lambda v: f"{v:,.0f} img/s",
    ),
)


def check_goals(summary: dict[str, Any]) -> list[GoalResult]:
    """Each goal's measured value and whether it was met (None when not measured)."""
    results = [_target_goal(summary)]
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
