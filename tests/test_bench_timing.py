"""The latency loop keeps exactly the samples asked for; stats match numpy; env capture."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistedge.bench.timing import LatencyStats, time_calls, time_interleaved, time_once
from mnistedge.core.env import CPU_FLAGS, capture_env, parse_cpuinfo


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@given(warmup=st.integers(0, 30), runs=st.integers(1, 300))
@settings(max_examples=40, deadline=None)
def test_time_calls_keeps_exactly_the_requested_samples(warmup: int, runs: int) -> None:
    fn = Counter()
    samples = time_calls(fn, warmup=warmup, runs=runs)
    assert samples.shape == (runs,)
    assert samples.dtype == np.int64
    assert fn.calls == warmup + runs
    assert (samples >= 0).all()
    assert LatencyStats.from_samples(samples).n == runs


@pytest.mark.parametrize("n_fns", [1, 2, 3])
def test_time_interleaved_gives_each_function_exactly_runs_samples(n_fns: int) -> None:
    order: list[int] = []
    fns = [lambda k=k: order.append(k) for k in range(n_fns)]
    samples = time_interleaved(fns, warmup=4, runs=25)
    assert [s.shape for s in samples] == [(25,)] * n_fns
    assert len(order) == (4 + 25) * n_fns
    # strictly alternating: 0, 1, 2, 0, 1, 2, ...
    assert order == list(range(n_fns)) * (4 + 25)


def test_timed_calls_measure_the_call() -> None:
    import time

    samples = time_calls(lambda: time.sleep(0.002), warmup=0, runs=5)
    assert (samples >= 2_000_000).all()
    assert time_once(lambda: time.sleep(0.002)) >= 2_000_000


@pytest.mark.parametrize(
    ("warmup", "runs", "message"),
    [(-1, 10, "warmup must be >= 0"), (0, 0, "runs must be >= 1"), (5, -3, "runs must be >= 1")],
)
def test_time_calls_rejects_bad_counts(warmup: int, runs: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        time_calls(Counter(), warmup=warmup, runs=runs)
    with pytest.raises(ValueError, match=message):
        time_interleaved([Counter()], warmup=warmup, runs=runs)


def test_latency_stats_match_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    samples_ns = rng.integers(10_000, 5_000_000, size=997)
    stats = LatencyStats.from_samples(samples_ns)
    ms = samples_ns / 1e6
    assert stats.n == 997
    assert stats.p50_ms == pytest.approx(np.median(ms))
    assert stats.p90_ms == pytest.approx(np.percentile(ms, 90))
    assert stats.p99_ms == pytest.approx(np.percentile(ms, 99))
    assert stats.mean_ms == pytest.approx(ms.mean())
    assert stats.std_ms == pytest.approx(ms.std())
    assert (stats.min_ms, stats.max_ms) == (pytest.approx(ms.min()), pytest.approx(ms.max()))
    assert stats.min_ms <= stats.p50_ms <= stats.p90_ms <= stats.p99_ms <= stats.max_ms
    assert set(stats.to_dict()) == {
        "n",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "mean_ms",
        "std_ms",
        "min_ms",
        "max_ms",
    }


def test_latency_stats_refuse_no_samples() -> None:
    with pytest.raises(ValueError, match="no latency samples"):
        LatencyStats.from_samples(np.array([], dtype=np.int64))


CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t: 0
flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni amx_tile amx_int8
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t: 0
flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni amx_tile amx_int8
processor\t: 2
physical id\t: 0
core id\t: 1
"""


def test_parse_cpuinfo_reads_model_cores_and_flags() -> None:
    model, physical, flags = parse_cpuinfo(CPUINFO)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert physical == 2  # two hyper-threads share core 0
    assert flags["avx2"] and flags["avx512_vnni"] and flags["amx_int8"]
    assert not flags["avx512_bf16"] and not flags["asimd"]
    assert set(flags) == set(CPU_FLAGS)


def test_parse_cpuinfo_arm_features_line() -> None:
    _, physical, flags = parse_cpuinfo("Hardware\t: BCM2835\nFeatures\t: fp asimd asimddp\n")
    assert flags["asimd"] and flags["asimddp"] and not flags["avx2"]
    assert physical is None


def test_capture_env_describes_this_machine_without_tensorflow() -> None:
    code = (
        "import sys, json; from mnistedge.core.env import capture_env; e = capture_env(); "
        "print(json.dumps({'tf': 'tensorflow' in sys.modules, 'env': e.to_dict()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import json

    payload = json.loads(out.stdout)
    assert payload["tf"] is False
    env = capture_env()
    assert payload["env"]["logical_cores"] == env.logical_cores >= 1
    assert 1 <= env.usable_cores <= env.logical_cores
    assert env.python.split()[-1] == ".".join(map(str, sys.version_info[:3]))
    assert env.versions["numpy"] == np.__version__
    assert "CPUExecutionProvider" in env.providers["onnxruntime"]
    assert env.cpu_model


def test_a_slow_call_gets_fewer_timed_calls_within_the_loop_budget() -> None:
    from mnistedge.bench.measure import MIN_RUNS, MeasureSpec

    spec = MeasureSpec(
        "runtime", "m.tflite", "x.npy", "r.json", "p.npy", warmup=50, runs=500, loop_budget_s=30.0
    )
    assert spec.loop_counts(100_000) == (50, 500)  # 0.1 ms: 500 calls fit in 30 s
    assert spec.loop_counts(400_000_000) == (7, 75)  # 0.4 s (int16x8 at batch 64 here): 75 fit
    assert spec.loop_counts(10_000_000_000) == (1, MIN_RUNS)  # slower still: never below MIN_RUNS
    unbounded = MeasureSpec("runtime", "m.tflite", "x.npy", "r.json", "p.npy", warmup=50, runs=500)
    assert unbounded.loop_counts(10_000_000_000) == (50, 500)
