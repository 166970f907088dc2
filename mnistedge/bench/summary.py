"""Headline figures of a run (the goals) and the "what this means" paragraph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mnistedge.bench.report import BenchRow

__all__ = ["explain", "fmt_ms", "summarize"]


def _ok(rows: Sequence[BenchRow]) -> list[BenchRow]:
    return [r for r in rows if r.status == "ok" and r.p50_ms is not None]


def _pick(row: BenchRow, *names: str) -> dict[str, Any]:
    return {
        "artifact": row.artifact,
        "engine": row.engine,
        "threads": row.threads,
        "batch_size": row.batch_size,
        **{n: getattr(row, n) for n in names},
    }


def summarize(rows: Sequence[BenchRow], target: dict[str, Any] | None = None) -> dict[str, Any]:
    """The goal figures: float accuracy, int8 cost, overhead, speed-up over Keras, size ratio.

    Args:
        target: train.json's ``target`` record of the Keras model (plus its ``arch``), if any.
    """
    ok = _ok(rows)
    refs = [r for r in ok if r.is_reference]
    arts = [r for r in ok if not r.is_reference and r.target == "desktop"]
    summary: dict[str, Any] = {
        "float_accuracy": refs[0].accuracy if refs else None,
        "keras_p50_ms_batch1": next(
            (r.p50_ms for r in refs if r.call == "model(x)" and r.batch_size == 1), None
        ),
        "failed": sorted({f"{r.artifact} ({r.threads} threads)" for r in rows if r.status != "ok"}),
        "target": target,
    }
    batch1 = [r for r in arts if r.batch_size == 1]
    if batch1:
        fastest = min(batch1, key=lambda r: r.p50_ms)
        summary["fastest_batch1"] = _pick(fastest, "p50_ms", "speedup_vs_keras")
        # The clean case: fewest threads (more threads at batch 1 mostly measure contention).
        fewest = min(r.threads or 0 for r in batch1)
        with_overhead = [r for r in batch1 if r.overhead_ratio is not None and (r.threads or 0) == fewest]
        summary["overhead_ratio"] = {
            engine: max(r.overhead_ratio for r in with_overhead if r.engine == engine)
            for engine in sorted({r.engine for r in with_overhead})
        }
        summary["overhead_threads"] = fewest
    if arts:
        largest = max(r.batch_size for r in arts)
        best = max((r for r in arts if r.batch_size == largest), key=lambda r: r.throughput_ips)
        summary["best_throughput"] = _pick(best, "throughput_ips", "speedup_vs_keras")
    fp32_size = {r.format: r.size_bytes for r in arts if r.quantization == "none" and r.size_bytes}
    summary["quantized"] = {
        r.artifact: {
            "format": r.format,
            "quantization": r.quantization,
            "accuracy": r.accuracy,
            "accuracy_delta_pp": r.accuracy_delta_pp,
            "agreement": r.agreement,
            "size_ratio": r.size_bytes / fp32_size[r.format]
            if r.size_bytes and r.format in fp32_size
            else None,
        }
        for r in arts
        if r.quantization != "none"
    }
    browser = [r for r in ok if r.target == "browser"]
    if browser:
        summary["browser"] = _browser_summary(browser)
    tflm = [r for r in ok if r.target == "tflm"]
    if tflm:
        summary["tflm"] = _pick(
            tflm[0],
            "accuracy",
            "native_agreement",
            "agreement",
            "p50_ms",
            "arena_bytes",
            "flash_bytes",
            "n_test",
        )
    # The Cortex-M4 row has no milliseconds (QEMU's time is not a device's), so not from `ok`.
    c = [r for r in rows if r.target == "c" and r.status == "ok"]
    if c:
        summary["c"] = _c_summary(c, tflm[0] if tflm else None)
    return summary


def _c_summary(rows: Sequence[BenchRow], tflm: BenchRow | None) -> dict[str, Any]:
    """Generated C beside the TFLM row of the same model: exactness, footprint, work per MAC."""
    host = next((r for r in rows if r.provider == "host"), rows[0])
    m4 = next((r for r in rows if r.provider == "cortex-m4"), None)
    ram = m4.ram_bytes if m4 is not None else host.ram_bytes
    return {
        "artifact": host.artifact,
        "n_test": host.n_test,
        "accuracy": host.accuracy,
        "bit_exact": host.bit_exact,
        "host_p50_ms": host.p50_ms,
        "flash_bytes": host.flash_bytes,
        "ram_bytes": ram,
        "m4_images": m4.n_test if m4 is not None else None,
        "m4_bit_exact": m4.bit_exact if m4 is not None else None,
        "instructions_per_inference": m4.instructions_per_inference if m4 is not None else None,
        "instructions_per_mac": m4.instructions_per_mac if m4 is not None else None,
        "tflm_arena_bytes": tflm.arena_bytes if tflm is not None else None,
        "tflm_flash_bytes": tflm.flash_bytes if tflm is not None else None,
        "ram_vs_tflm_arena": ram / tflm.arena_bytes
        if tflm is not None and tflm.arena_bytes and ram
        else None,
    }


def _browser_summary(rows: Sequence[BenchRow]) -> dict[str, Any]:
    """Browser headlines: fidelity to the Python runtime, and the best speeds with threads on."""
    threaded = [r for r in rows if (r.threads or 1) > 1 and r.threads_engaged]
    batch1 = [r for r in threaded if r.batch_size == 1]
    batch64 = [r for r in threaded if r.batch_size == 64]
    worst = min(rows, key=lambda r: r.native_agreement if r.native_agreement is not None else 1.0)
    gap = max(rows, key=lambda r: abs(r.native_accuracy_delta_pp or 0.0))
    return {
        "n_test": rows[0].n_test,
        "min_native_agreement": _pick(worst, "native_agreement"),
        "float_min_native_agreement": min(
            (r.native_agreement for r in rows if r.quantization == "none" and r.native_agreement is not None),
            default=None,
        ),
        "max_native_accuracy_gap_pp": _pick(gap, "native_accuracy_delta_pp"),
        "fastest_batch1": _pick(min(batch1, key=lambda r: r.p50_ms), "p50_ms", "p99_ms") if batch1 else None,
        "best_throughput": _pick(max(batch64, key=lambda r: r.throughput_ips), "throughput_ips")
        if batch64
        else None,
        "threads_not_engaged": sorted(
            {f"{r.artifact} ({r.threads} threads)" for r in rows if r.threads_engaged is False}
        ),
        "cold_start_ms": {r.engine: r.cold_start_ms for r in rows if r.cold_start_ms is not None},
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def fmt_ms(x: float | None) -> str:
    """A latency in milliseconds as people read it: "31 µs", "9.17 ms" ("n/a" for None)."""
    if x is None:
        return "n/a"
    return f"{x * 1000:.0f} µs" if x < 1 else f"{x:.2f} ms"


def _threads(n: int | None) -> str:
    return "default threads" if n is None else f"{n} thread{'s' if n != 1 else ''}"


def explain(summary: dict[str, Any]) -> str:
    """A short paragraph, generated from the numbers, saying what they mean."""
    parts = []
    if summary.get("float_accuracy") is not None:
        parts.append(f"The Keras model scores {_pct(summary['float_accuracy'])} on the test set.")
    else:
        parts.append(
            "No Keras reference was measured (no TensorFlow or no model.keras), "
            "so deltas and speed-ups are missing."
        )
    fastest = summary.get("fastest_batch1")
    if fastest:
        text = (
            f"At batch 1 the fastest is {fastest['artifact']} ({fastest['engine']}, "
            f"{_threads(fastest['threads'])}) at {fmt_ms(fastest['p50_ms'])} p50"
        )
        if fastest.get("speedup_vs_keras"):
            text += f", {fastest['speedup_vs_keras']:.0f}x faster than calling the Keras model"
        parts.append(text + ".")
    best = summary.get("best_throughput")
    if best:
        parts.append(
            f"At batch {best['batch_size']} {best['artifact']} "
            f"({_threads(best['threads'])}) moves the most images: "
            f"{best['throughput_ips']:,.0f} images/s."
        )
    for name, q in sorted(summary.get("quantized", {}).items()):
        if q["accuracy_delta_pp"] is None:
            continue
        size = f", at {q['size_ratio']:.2f}x the fp32 file size" if q.get("size_ratio") else ""
        parts.append(
            f"{name} ({q['quantization']}) changes accuracy by "
            f"{q['accuracy_delta_pp']:+.2f} pp and agrees with Keras on "
            f"{_pct(q['agreement'])} of test digits{size}."
        )
    overhead = summary.get("overhead_ratio") or {}
    if overhead:
        figures = ", ".join(f"{engine} {ratio:.2f}x" for engine, ratio in overhead.items())
        threads = summary.get("overhead_threads")
        where = f"batch 1 and {threads} thread{'s' if threads != 1 else ''}" if threads else "batch 1"
        parts.append(
            f"Over the bare engine call, the mnistedge runtime's predict takes at most this at "
            f"{where} (p50 ratio, worst artifact per engine): {figures}; the table has every row."
        )
    if summary.get("browser"):
        parts.append(_explain_browser(summary["browser"]))
    if summary.get("tflm"):
        t = summary["tflm"]
        parts.append(
            f"In TFLM with a {t['arena_bytes']:,}-byte arena and {t['flash_bytes']:,} bytes of model, "
            f"{t['artifact']} scores {_pct(t['accuracy'])} on {t['n_test']:,} test images and agrees with "
            f"LiteRT's reference kernels on {_pct(t['native_agreement'])} of labels; its reference kernels "
            f"take {fmt_ms(t['p50_ms'])} per image on this host's CPU (a relative figure, not a device's)."
        )
    if summary.get("c"):
        parts.append(_explain_c(summary["c"]))
    if summary.get("profile_findings"):  # bench --profile: the first finding is the headline
        parts.append(f"Where the time goes: {summary['profile_findings'][0]} (more below).")
    if summary.get("failed"):
        parts.append(f"Failed to measure: {', '.join(summary['failed'])} (see the error column).")
    return " ".join(parts)


def _explain_c(c: dict[str, Any]) -> str:
    exact = "bit-exact with" if c["bit_exact"] else "NOT bit-exact with"
    text = (
        f"The generated C ({c['artifact']}) is {exact} LiteRT's reference kernels on {c['n_test']:,} test "
        f"images and takes {fmt_ms(c['host_p50_ms'])} per image on this host; it needs "
        f"{c['flash_bytes'] or 0:,} bytes of flash (code + weights) and {c['ram_bytes'] or 0:,} bytes of RAM"
    )
    if c.get("tflm_arena_bytes") and c.get("ram_vs_tflm_arena"):
        saved = 100 * (1 - c["ram_vs_tflm_arena"])
        text += f", {saved:.0f} % less than the {c['tflm_arena_bytes']:,}-byte arena the TFLM row ran with"
    if c.get("instructions_per_inference"):
        same = "the same outputs as" if c["m4_bit_exact"] else "outputs that DIFFER from"
        text += (
            f". On a Cortex-M4 (QEMU, {c['m4_images']:,} images, {same} the host build) one inference is "
            f"{c['instructions_per_inference']:,.0f} instructions, {c['instructions_per_mac']:.2f} per MAC "
            "(instructions counted under -icount, not cycles)"
        )
    return text + "."


def _explain_browser(browser: dict[str, Any]) -> str:
    worst = browser["min_native_agreement"]
    text = (
        f"In Chromium, on {browser['n_test']:,} test images, every model agrees with the Python runtime "
        f"on the same file on at least {_pct(worst['native_agreement'])} of labels "
        f"(lowest: {worst['artifact']})"
    )
    fastest, best = browser.get("fastest_batch1"), browser.get("best_throughput")
    if fastest:
        text += (
            f"; with threads on, the fastest at batch 1 is {fastest['artifact']} "
            f"({fastest['engine']}) at {fmt_ms(fastest['p50_ms'])} p50"
        )
    if best:
        text += f", and {best['artifact']} moves {best['throughput_ips']:,.0f} images/s at batch 64"
    text += "."
    if browser.get("threads_not_engaged"):
        text += f" Threads did NOT engage for: {', '.join(browser['threads_not_engaged'])}."
    return text
