"""The base install is the runtime: no TensorFlow, and clear messages for missing extras."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from runtime_fixtures import BLOCK_TF

from mnistedge.core.deps import MissingDependencyError, require

ROOT = Path(__file__).resolve().parents[1]
# After BLOCK_TF, and however the child exits: which blocked imports it attempted, on stderr.
REPORT_ATTEMPTS = """
import atexit, json
atexit.register(lambda: print("TF_IMPORT_ATTEMPTS=" + json.dumps(TF_IMPORT_ATTEMPTS), file=sys.stderr))
"""


def run_python(code: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``code`` where TensorFlow & co. cannot be imported; return the process and the imports it tried."""
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_TF + REPORT_ATTEMPTS + code],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    reported = re.findall(r"^TF_IMPORT_ATTEMPTS=(.*)$", proc.stderr, re.MULTILINE)
    assert reported, f"the child never reported its import attempts: {proc.stderr[-2000:]}"
    return proc, json.loads(reported[-1])


def test_base_dependencies_have_no_tensorflow():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert "tensorflow" not in base and "keras" not in base and "tf2onnx" not in base
    extras = project["optional-dependencies"]
    for extra in ("train", "export", "bench", "gpu", "test", "all"):
        assert extra in extras
    assert any(dep.startswith("tensorflow") for dep in extras["export"])


def test_light_modules_import_without_tensorflow():
    code = "import mnistedge, mnistedge.data, mnistedge.core.contract, mnistedge.cli, mnistedge.runtime\n"
    proc, attempts = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert attempts == []  # not even a caught attempt


def test_cli_help_works_without_tensorflow():
    proc, attempts = run_python("from mnistedge.cli import app\napp(['--help'])")
    assert proc.returncode == 0, proc.stderr
    assert attempts == []
    for command in ("data", "train", "export", "bench", "predict", "inspect", "run"):
        assert command in proc.stdout


@pytest.mark.parametrize(
    ("argv", "extra"),
    [(["train", "--epochs", "1"], "train"), (["export", "--format", "tflite"], "export")],
)
def test_commands_needing_an_extra_exit_1_with_the_pip_command(tmp_path, argv, extra):
    code = (
        "from typer.testing import CliRunner\n"
        "from mnistedge.cli import app\n"
        f"r = CliRunner().invoke(app, {argv!r} + ['--out', {str(tmp_path)!r}])\n"
        "print(r.exit_code)\nprint(r.output)\n"
    )
    proc, attempts = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert attempts, "the command should have needed TensorFlow and been refused it"
    exit_code, _, output = proc.stdout.partition("\n")
    assert exit_code == "1", output
    assert f"pip install 'mnistedge[{extra}]'" in output


def test_require_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'mnistedge\[bench\]'"):
        require("surely_not_a_module_xyz", "bench")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """README's command 2 (system deps, install, tests) is exactly the line `.ci/run` runs."""
    root = ROOT
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("**2. Install and run the tests**", 1)[1]
    command = section.split("```bash\n", 1)[1].split("\n```", 1)[0].strip()
    assert command.startswith("scripts/system-deps.sh; ") and command.endswith("-m pytest")
    assert command in (root / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert os.access(root / "scripts" / "system-deps.sh", os.X_OK)
