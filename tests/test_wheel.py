"""The wheel, installed into a fresh venv, carries every module and data file the source tree has.

Built from a copy of the tracked sources (never from the working tree, whose build/ may hold
stale modules), with probe files of each template kind planted where templates will go, so
a kind missing from pyproject's package-data fails here before a real template ships without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# One file of each kind pyproject's [tool.setuptools.package-data] must carry, in a folder
# without __init__.py, as template folders are.
PROBES = tuple(
    f"mnistedge/_wheel_probe/{name}"
    for name in (
        "web/index.html", "web/app.js", "web/style.css",
        "c/model.c", "c/micro.cc", "c/model.h", "c/link.ld",
        "assets/labels.json", "assets/notes.txt",
    )
)  # fmt: skip
# The SPDX `license = "..."` string in pyproject needs setuptools >= 77 (PEP 639).
MIN_SETUPTOOLS = 77
LISTS_INSTALLED = """
import json, sys
from pathlib import Path
import mnistedge
package = Path(mnistedge.__file__).parent
files = [p.relative_to(package.parent).as_posix() for p in package.rglob("*")
         if p.is_file() and "__pycache__" not in p.parts]
print(json.dumps({"file": mnistedge.__file__, "path": sys.path, "files": files}))
"""


def tracked_package_files() -> list[str]:
    """Files under mnistedge/ that git tracks (the tree less caches, where git is not at hand)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "mnistedge"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = [
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / "mnistedge").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return sorted(f for f in files if (ROOT / f).is_file())  # not those deleted but not yet committed


def setuptools_major() -> int:
    try:
        return int(metadata.version("setuptools").split(".")[0])
    except metadata.PackageNotFoundError:
        return 0


def build_wheel(src: Path, dist: Path) -> Path:
    """Build with this venv's setuptools if new enough (offline), else with what [build-system] asks for."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)]
    if setuptools_major() >= MIN_SETUPTOOLS:
        cmd.insert(4, "--no-build-isolation")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=src)
    if proc.returncode != 0 and "No matching distribution found for setuptools" in proc.stderr:
        pytest.skip(
            f"cannot fetch setuptools>={MIN_SETUPTOOLS} to build the wheel, and this venv has "
            f"{metadata.version('setuptools')}: pip install 'setuptools>={MIN_SETUPTOOLS}' to build offline."
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = dist.glob("mnistedge-*.whl")
    return wheel


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """(the wheel, the package files it must hold): tracked mnistedge/ files plus the probes."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    tracked = tracked_package_files()
    for name in [*tracked, "pyproject.toml", "README.md"]:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    for name in PROBES:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("probe\n")
    return build_wheel(src, tmp / "dist"), sorted([*tracked, *PROBES])


def test_the_wheel_holds_every_tracked_file_and_its_metadata(built: tuple[Path, list[str]]) -> None:
    wheel, expected = built
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        generator = re.search(r"^Generator: setuptools \((\d+)", zf.read(info).decode(), re.MULTILINE)
        meta = zf.read(info.replace("WHEEL", "METADATA")).decode()
    assert generator and int(generator[1]) >= MIN_SETUPTOOLS, f"built by {generator and generator[0]}"
    assert "License-Expression: Apache-2.0" in meta.splitlines()
    assert {n.split("/")[0] for n in names} == {"mnistedge", info.split("/")[0]}  # no tests, no conftest
    packaged = sorted(n for n in names if n.startswith("mnistedge/"))
    missing = sorted(set(expected) - set(packaged))
    assert not missing, f"not in the wheel (is its pattern in [tool.setuptools.package-data]?): {missing}"
    assert packaged == expected


def test_installed_into_a_fresh_venv_it_runs_without_the_source_tree(
    built: tuple[Path, list[str]], tmp_path: Path
) -> None:
    wheel, expected = built
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
         str(wheel)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    # The dependencies come from this venv, after the fresh one's own site-packages; a .pth file
    # adds the folders without running their .pth files (so not this venv's editable mnistedge).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site, "outer_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()

    script = venv / "bin" / "mnistedge"
    help_run = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )
    assert help_run.returncode == 0, help_run.stderr[-3000:]
    for command in ("data", "train", "export", "bench", "predict", "inspect", "run"):
        assert command in help_run.stdout

    listing = subprocess.run(
        [str(python), "-c", LISTS_INSTALLED], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )
    assert listing.returncode == 0, listing.stderr[-3000:]
    installed = json.loads(listing.stdout)
    assert Path(installed["file"]).resolve().is_relative_to(venv.resolve()), installed["file"]
    assert not [p for p in installed["path"] if p and Path(p).resolve() == ROOT]
    assert sorted(installed["files"]) == expected
