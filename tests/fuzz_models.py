"""Fuzz the runtime's model loading: mutated, truncated and random model files.

Every file is loaded (and, if that works, run at batch 1 and 3) in a child process,
so a crash in an engine cannot take the fuzzer down. One child loads many files in
sequence and reports each on stdout; a child that dies is recorded as a crash for
the file it was on, and a fresh child resumes after it.

    python tests/fuzz_models.py --seeds artifacts/export --count 1000 --out /tmp/fuzz

Pass criterion: zero crashes (negative exit codes) and zero hangs; every failure is
a clean ValueError/OSError. The pytest suite runs a ~100-file version of this.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from fuzz_mutations import make_cases

# load() may raise these; a model that loaded may still fail to run with RuntimeError.
CLEAN = ("ValueError", "OSError", "FileNotFoundError", "IsADirectoryError", "UnicodeDecodeError")
# ---------------------------------------------------------------- child
ISOLATE = {"auto": None, "never": False, "always": True}


def child_main(isolate: bool | None, structural: bool = True) -> None:
    """Load each path read from stdin; print one JSON line per file."""
    # Results go to a private copy of stdout; engines' own prints land on stderr.
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    from mnistedge.runtime import _integrity, load

    if not structural:  # measure what the probe alone catches
        _integrity.structural_check = lambda fmt, data: {}

    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    print(json.dumps({"ready": True}), file=results, flush=True)
    for line in sys.stdin:
        path = line.strip()
        stage = "load"
        try:
            clf = load(path, verify=False, isolate=isolate)
            stage = "predict"
            clf.predict_proba(images[:1])
            proba = clf.predict_proba(images)
            result = {"path": path, "outcome": "loaded", "shape": list(proba.shape)}
        except Exception as exc:  # classifying every exception is the point
            outcome = type(exc).__name__
            result = {"path": path, "outcome": outcome, "stage": stage, "message": str(exc)[:300]}
        print(json.dumps(result), file=results, flush=True)


# ---------------------------------------------------------------- parent
@dataclass
class FuzzReport:
    files: int = 0
    loaded: int = 0
    clean_errors: int = 0
    crashes: list[dict] = field(default_factory=list)  # path + returncode
    hangs: list[str] = field(default_factory=list)
    unexpected: list[dict] = field(default_factory=list)  # exception types outside CLEAN
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    child_starts: int = 0

    @property
    def passed(self) -> bool:
        return not (self.crashes or self.hangs or self.unexpected)


def _start_child(isolate: str, structural: bool) -> subprocess.Popen[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONFAULTHANDLER="0")
    flags = [] if structural else ["--skip-structural-checks"]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", "--isolate", isolate, *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        bufsize=1,
    )
    ready = proc.stdout.readline()
    if not ready:
        raise RuntimeError("fuzz child failed to start")
    return proc


def run_cases(
    cases: list[Path], timeout_s: float = 20.0, isolate: str = "auto", structural: bool = True
) -> FuzzReport:
    """Load every case in a child process; restart the child after a crash or hang."""
    import selectors

    report = FuzzReport(files=len(cases))
    outcomes: Counter[str] = Counter()
    start = time.perf_counter()
    proc = None
    for path in cases:
        if proc is None or proc.poll() is not None:
            proc = _start_child(isolate, structural)
            report.child_starts += 1
        proc.stdin.write(f"{path}\n")
        proc.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        line = proc.stdout.readline() if sel.select(timeout_s) else None
        sel.close()
        if line is None:  # hang
            proc.kill()
            proc.wait()
            report.hangs.append(str(path))
            outcomes["hang"] += 1
            proc = None
            continue
        if not line:  # the child died on this file
            code = proc.wait()
            report.crashes.append({"path": str(path), "returncode": code})
            outcomes["crash"] += 1
            proc = None
            continue
        result = json.loads(line)
        outcome = result["outcome"]
        outcomes[outcome] += 1
        if outcome == "loaded":
            report.loaded += 1
        elif outcome in CLEAN or (result["stage"] == "predict" and outcome == "RuntimeError"):
            report.clean_errors += 1
        else:
            report.unexpected.append(result)
    if proc is not None:
        proc.stdin.close()
        proc.wait()
    report.outcomes = dict(outcomes)
    report.seconds = round(time.perf_counter() - start, 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=Path, nargs="+", help="model files or directories")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the cases here (default: a temp dir)")
    parser.add_argument(
        "--isolate",
        choices=list(ISOLATE),
        default="auto",
        help="load(isolate=...): auto probes files no manifest vouches for (all fuzz cases)",
    )
    parser.add_argument(
        "--skip-structural-checks",
        action="store_true",
        help="disable the runtime's own file checks, to measure what the probe alone catches",
    )
    args = parser.parse_args()
    if args.child:
        child_main(ISOLATE[args.isolate], structural=not args.skip_structural_checks)
        return
    seeds = []
    for p in args.seeds or []:
        seeds += sorted(p.glob("*.tflite")) + sorted(p.glob("*.onnx")) if p.is_dir() else [p]
    if not seeds:
        parser.error("no seed models: pass --seeds with .tflite/.onnx files or a folder of them")
    with tempfile.TemporaryDirectory(prefix="mnistedge-fuzz-") as tmp:
        out = args.out or Path(tmp)  # generated cases never land in the source tree by default
        cases = make_cases(seeds, args.count, out, args.seed)
        report = run_cases(cases, isolate=args.isolate, structural=not args.skip_structural_checks)
    summary = asdict(report) | {
        "passed": report.passed,
        "seeds": [str(s) for s in seeds],
        "isolate": args.isolate,
        "structural_checks": not args.skip_structural_checks,
    }
    print(json.dumps(summary, indent=2))
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
