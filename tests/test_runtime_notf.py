"""The runtime on a runtime-only install: TensorFlow cannot be imported, and is not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from runtime_fixtures import *  # noqa: F403 - pytest fixtures
from runtime_fixtures import EDGE_FILES

from mnistedge.runtime import load

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys
for name in ("tensorflow", "keras", "tf2onnx", "tf_keras"):
    sys.modules[name] = None  # any import of them now fails, as without the package
import json
import numpy as np
from mnistedge.runtime import available_providers, load
import mnistedge.runtime.inspect, mnistedge.runtime.preprocess, mnistedge.runtime._cli
job = json.loads(sys.argv[1])
images = np.load(job["images"])
worst = {}
for path, expected in job["expected"].items():
    clf = load(path)
    worst[path] = float(np.abs(clf.predict_proba(images) - np.load(expected)).max())
print(json.dumps({
    "worst": worst,
    "providers": available_providers(),
    "loaded": sorted(m for m in ("tensorflow", "keras", "tf2onnx") if sys.modules.get(m) is not None),
}))
"""


def test_every_artifact_runs_without_tensorflow(artifacts, linear_onnx, tiny_data, tmp_path) -> None:
    images = tmp_path / "images.npy"
    np.save(images, tiny_data.x_test[:64])
    expected = {}
    for path in [*(artifacts[n] for n in EDGE_FILES), linear_onnx]:
        out = tmp_path / f"{path.name}.npy"
        np.save(out, load(path).predict_proba(tiny_data.x_test[:64]))
        expected[str(path)] = str(out)
    job = json.dumps({"images": str(images), "expected": expected})
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, job], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert set(result["worst"]) == set(expected)
    assert max(result["worst"].values()) < 1e-6
    assert "CPUExecutionProvider" in result["providers"]["onnxruntime"]
