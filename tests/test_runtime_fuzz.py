"""Mutated, truncated and random model files, each loaded in a child process: no crash, ever.

The suite runs 300 cases (~3 s); the report's run is 1000+ (MNISTEDGE_FUZZ_COUNT=1000, or
``python tests/fuzz_models.py --seeds artifacts/export --count 1000``).
"""

from __future__ import annotations

import os

from fuzz_models import run_cases
from fuzz_mutations import make_cases
from runtime_fixtures import EDGE_FILES

COUNT = int(os.environ.get("MNISTEDGE_FUZZ_COUNT", "300"))


def test_no_model_file_crashes_the_process(artifacts, tmp_path) -> None:
    seeds = [artifacts[name] for name in EDGE_FILES]
    cases = make_cases(seeds, COUNT, tmp_path, seed=int(os.environ.get("MNISTEDGE_FUZZ_SEED", "0")))
    report = run_cases(cases)
    assert report.files == COUNT == sum(report.outcomes.values())
    assert report.crashes == [] and report.hangs == [] and report.unexpected == []
    assert report.clean_errors + report.loaded == COUNT
    assert report.clean_errors >= COUNT // 2  # the mutations do break most files
    assert report.passed
