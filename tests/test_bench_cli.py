"""`mnistedge bench` / `run` options: one declaration of the shared ones, and --target."""

from __future__ import annotations

import dataclasses
import re

import pytest
from typer.testing import CliRunner

from mnistedge.cli import COMMANDS, app
from mnistedge.core import targets as core_targets
from mnistedge.core.targets import TARGETS, select_targets

SHARED = ("--source", "--target", "--batch-sizes", "--threads", "--providers", "--warmup", "--runs",
          "--reference-runs", "--predict-runs", "--plots", "--quiet")  # fmt: skip


def _options(command: str) -> set[str]:
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    return set(re.findall(r"^\s+(--[a-z-]+)", result.output, flags=re.M))


def test_bench_and_run_take_the_same_shared_options() -> None:
    bench, run = _options("bench"), _options("run")
    assert set(SHARED) <= bench and set(SHARED) <= run
    assert "--extra-model" in bench and "--arch" in run


def test_default_targets_are_desktop_and_each_skip_says_how_to_enable(monkeypatch) -> None:
    monkeypatch.setattr(core_targets.Tool, "found", lambda self: False)
    chosen, skipped = select_targets(None)
    assert [t.name for t in chosen] == ["desktop"]
    assert len(skipped) == len(TARGETS) - 1
    for name, line in zip([n for n in TARGETS if n != "desktop"], skipped, strict=True):
        assert line.startswith(f"skipping target {name} ")


def test_a_target_with_its_tools_present_is_chosen_by_default(monkeypatch) -> None:
    monkeypatch.setattr(core_targets.Tool, "found", lambda self: self.names != ("npm",))
    monkeypatch.setitem(TARGETS, "tflm", dataclasses.replace(TARGETS["tflm"], measured=True))
    monkeypatch.setitem(TARGETS, "browser", dataclasses.replace(TARGETS["browser"], measured=True))
    chosen, skipped = select_targets(None)
    assert [t.name for t in chosen] == ["desktop", "tflm", "c"]
    browser = next(line for line in skipped if "browser" in line)
    assert "needs npm, not found" in browser and "apt-get install" in browser
    with pytest.raises(ValueError, match=r"--target browser: needs npm"):
        select_targets(["browser"])
    assert [t.name for t in select_targets(["tflm", "tflm"])[0]] == ["tflm"]


def test_an_unmeasurable_target_exits_2_before_any_work(tmp_path, monkeypatch) -> None:
    # Every target is measured today; a future one starts out unmeasured.
    monkeypatch.setitem(TARGETS, "c", dataclasses.replace(TARGETS["c"], measured=False))
    result = CliRunner().invoke(app, ["bench", "--target", "c", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--target c" in result.output and "cannot measure it yet" in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_help_is_clean_for_every_command(command: list[str]) -> None:
    """Plain help: no "<bool>" beside flags (typer 0.29's rich help prints one), exit 0."""
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and "<bool>" not in result.output and "╭" not in result.output


def _browser_tools_found(monkeypatch) -> None:
    monkeypatch.setattr(core_targets.Tool, "found", lambda self: True)


def test_browser_by_name_without_a_bundle_exits_1_saying_how_to_build_it(
    monkeypatch, tmp_path, tiny_export, tiny_npz
) -> None:
    _browser_tools_found(monkeypatch)
    result = CliRunner().invoke(
        app,
        ["bench", "--target", "browser", "--export-dir", str(tiny_export), "--out", str(tmp_path),
         "--source", str(tiny_npz), "--no-keras", "--no-plots", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "no web bundle" in result.output and "mnistedge export --format web" in result.output
    assert not (tmp_path / "bench").exists()


def test_browser_by_default_without_a_bundle_is_skipped_with_a_notice(monkeypatch, tmp_path) -> None:
    from mnistedge.bench._options import MeasureArgs, drop_unbuilt_edges
    from mnistedge.bench.config import BenchConfig

    _browser_tools_found(monkeypatch)
    config = BenchConfig(targets=("desktop", "browser"))
    args = MeasureArgs(**{f.name: None for f in dataclasses.fields(MeasureArgs)})
    kept = drop_unbuilt_edges(config, args, tmp_path)
    assert kept.targets == ("desktop",)
    (tmp_path / "web").mkdir()
    assert drop_unbuilt_edges(config, args, tmp_path).targets == ("desktop", "browser")
