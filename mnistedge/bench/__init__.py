"""Measure what each deployment format costs and keeps, on this machine, in one run.

>>> from mnistedge.bench import BenchConfig, run_bench, write_outputs
>>> report = run_bench("artifacts/export", mnist.x_test, mnist.y_test,
...                    model_path="artifacts/model.keras", config=BenchConfig())
>>> write_outputs(report, "artifacts/bench")   # report.json, report.md, PNG plots

Importing this package is light: no TensorFlow, no matplotlib. Each model is measured
in its own child process (``python -m mnistedge.bench.measure``).
"""

from mnistedge.bench.config import BenchConfig, discover_artifacts
from mnistedge.bench.gate import Regression, check_regressions
from mnistedge.bench.goals import check_goals
from mnistedge.bench.render import write_outputs
from mnistedge.bench.report import SCHEMA_VERSION, BenchRow, Report, load_report
from mnistedge.bench.runner import ChildFailedError, run_bench
from mnistedge.bench.timing import LatencyStats, time_calls, time_interleaved
from mnistedge.core.env import Environment, capture_env

__all__ = [
    "SCHEMA_VERSION",
    "BenchConfig",
    "BenchRow",
    "ChildFailedError",
    "Environment",
    "LatencyStats",
    "Regression",
    "Report",
    "capture_env",
    "check_goals",
    "check_regressions",
    "discover_artifacts",
    "load_report",
    "run_bench",
    "time_calls",
    "time_interleaved",
    "write_outputs",
]
