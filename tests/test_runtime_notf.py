"""The runtime on a runtime-only install: TensorFlow cannot be imported, and is never even tried."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from runtime_fixtures import BLOCK_TF, EDGE_FILES, HEAVY_MODULES

from mnistedge.runtime import load

ROOT = Path(__file__).resolve().parents[1]
# Loads, runs and inspects every artifact; reports its answers and what of HEAVY_MODULES it touched.
USE_THE_RUNTIME = """
import json
import sys
import numpy as np
from mnistedge.runtime import available_providers, load
from mnistedge.runtime.inspect import inspect_model
import mnistedge.runtime.preprocess, mnistedge.runtime._cli
job = json.loads(sys.argv[1])
images = np.load(job["images"])
worst = {}
for path, expected in job["expected"].items():
    clf = load(path)
    worst[path] = float(np.abs(clf.predict_proba(images) - np.load(expected)).max())
    clf.predict(images[0])
    inspect_model(path)
print(json.dumps({
    "worst": worst,
    "providers": available_providers(),
    "attempts": globals().get("TF_IMPORT_ATTEMPTS"),  # set by BLOCK_TF
    "loaded": sorted(m for m in job["heavy"] if m in sys.modules),
}))
"""


@pytest.mark.parametrize("blocked", [True, False], ids=["tensorflow-blocked", "tensorflow-importable"])
def test_every_artifact_runs_without_tensorflow(
    blocked: bool, artifacts, linear_onnx, tiny_data, tmp_path
) -> None:
    """Blocked: not one import of TensorFlow & co. is attempted (a caught one counts too).

    Importable (as in a full install): after all that, none of them is in sys.modules.
    """
    images = tmp_path / "images.npy"
    np.save(images, tiny_data.x_test[:64])
    expected = {}
    for path in [*(artifacts[n] for n in EDGE_FILES), linear_onnx]:
        out = tmp_path / f"{path.name}.npy"
        np.save(out, load(path).predict_proba(tiny_data.x_test[:64]))
        expected[str(path)] = str(out)
    job = json.dumps({"images": str(images), "expected": expected, "heavy": HEAVY_MODULES})
    code = BLOCK_TF + USE_THE_RUNTIME if blocked else USE_THE_RUNTIME
    proc = subprocess.run(
        [sys.executable, "-c", code, job], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["attempts"] == ([] if blocked else None)
    assert result["loaded"] == []
    assert set(result["worst"]) == set(expected)
    assert max(result["worst"].values()) < 1e-6
    assert "CPUExecutionProvider" in result["providers"]["onnxruntime"]
