"""One classifier shared by 8 threads: every answer equals the single-threaded one.

Set MNISTEDGE_THREAD_PREDICTIONS=10000 for the full 8 x 10k run (default 300 per thread).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from runtime_fixtures import BATCH_DEPENDENT, EDGE_FILES

from mnistedge.runtime import load

PER_THREAD = int(os.environ.get("MNISTEDGE_THREAD_PREDICTIONS", "300"))
THREADS = 8


@pytest.mark.parametrize("name", EDGE_FILES)
def test_eight_threads_share_one_classifier(name: str, artifacts, tiny_data) -> None:
    clf = load(artifacts[name])
    x = tiny_data.x_test
    single = np.stack([clf.predict_proba(x[j])[0] for j in range(len(x))])  # reference, one thread
    atol = BATCH_DEPENDENT.get(name, 1e-5)  # its batch mates move a batch-dependent model a little

    def hammer(seed: int) -> tuple[int, int]:
        rng = np.random.default_rng(seed)
        wrong = 0
        for i in range(PER_THREAD):
            if i % 8 == 7:  # a batch of another size forces LiteRT to resize under contention
                start, n = int(rng.integers(0, len(x) - 16)), int(rng.integers(2, 17))
                proba = clf.predict_proba(x[start : start + n])
                wrong += not np.allclose(proba, single[start : start + n], atol=atol)
            else:
                j = int(rng.integers(0, len(x)))
                wrong += int(clf.predict(x[j])[0]) != int(single[j].argmax())
        return wrong, PER_THREAD

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(hammer, range(THREADS)))
    assert sum(n for _, n in results) == THREADS * PER_THREAD  # every call was made
    assert sum(w for w, _ in results) == 0
