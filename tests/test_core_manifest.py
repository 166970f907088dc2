"""manifest.json under concurrent writers, lock-free readers, and files written with the umask's mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnistedge.core import io as core_io
from mnistedge.core.manifest import LOCK_NAME, MANIFEST_NAME, read_manifest, update_manifest

ROOT = Path(__file__).resolve().parents[1]
WRITER = """
import sys
from mnistedge.core.manifest import update_manifest
folder, writer, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    update_manifest(folder, {"file": f"w{writer}_{i}.onnx", "sha256": f"{writer}:{i}"})
"""


def test_concurrent_writer_processes_lose_no_entry(tmp_path: Path) -> None:
    writers, updates = 4, 40
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(w), str(updates)], cwd=ROOT)
        for w in range(writers)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * writers
    entries = read_manifest(tmp_path)["artifacts"]
    expected = {f"w{w}_{i}.onnx" for w in range(writers) for i in range(updates)}
    assert set(entries) == expected  # 160 of 160 (without the lock: 53 of 160 were kept)
    assert all(entries[name]["sha256"] == "{}:{}".format(*name[1:-5].split("_")) for name in expected)


def test_readers_take_no_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    update_manifest(tmp_path, {"file": "a.onnx", "sha256": "1"})
    (tmp_path / LOCK_NAME).unlink()

    def no_lock(*args: object, **kwargs: object) -> None:
        raise AssertionError("a reader took the manifest lock")

    monkeypatch.setattr(core_io, "file_lock", no_lock)
    monkeypatch.setattr("mnistedge.core.manifest.file_lock", no_lock)
    assert read_manifest(tmp_path)["artifacts"]["a.onnx"]["sha256"] == "1"
    with pytest.raises(AssertionError, match="took the manifest lock"):
        update_manifest(tmp_path, {"file": "b.onnx"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_NAME]  # nothing written


def test_exported_model_loads_from_a_read_only_folder(artifacts: dict, tmp_path: Path) -> None:
    from mnistedge.runtime import load

    folder = tmp_path / "ro"
    folder.mkdir()
    source = artifacts["model_int8.tflite"]
    for name in ("model_int8.tflite", MANIFEST_NAME):
        (folder / name).write_bytes((source.parent / name).read_bytes())
    before = sorted(os.listdir(folder))
    folder.chmod(0o555)
    try:
        clf = load(folder / "model_int8.tflite")
        assert clf.info.manifest_verified
        assert sorted(os.listdir(folder)) == before  # no lock file, no temp file
    finally:
        folder.chmod(0o755)


CHILD_UMASK = """
import os, stat, sys
os.umask(0o027)
from mnistedge.core.io import atomic_directory, atomic_write_text
path = atomic_write_text(sys.argv[1] + "/f.txt", "x")
with atomic_directory(sys.argv[1] + "/d") as d:
    (d / "inner").write_text("y")
print(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(stat.S_IMODE(os.stat(sys.argv[1] + "/d").st_mode)))
print(oct(os.umask(0)))
"""


def test_atomic_writes_follow_the_umask_without_touching_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD_UMASK, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    modes, umask = proc.stdout.split("\n")[:2]
    assert modes == "0o640 0o750" and umask == "0o27"


@pytest.mark.slow
def test_two_concurrent_export_commands_both_land_in_the_manifest(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    exe = Path(sys.executable).with_name("mnistedge")
    out = tmp_path / "export"
    commands = [
        [
            str(exe),
            "export",
            "--format",
            fmt,
            "--no-verify",
            "--model",
            str(tiny_model_path),
            "--out",
            str(out),
        ]
        for fmt in ("tflite", "onnx")
    ]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert {"model.tflite", "model.onnx"} <= set(manifest["artifacts"])
