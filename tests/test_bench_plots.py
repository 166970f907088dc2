"""The three PNG plots are written, open, and have a sensible size."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_fakes import fake_report, fake_rows

from mnistedge.bench.plots import PLOTS, write_plots
from mnistedge.bench.render import write_outputs

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")


def test_write_outputs_writes_json_markdown_and_readable_plots(tmp_path: Path) -> None:
    written = write_outputs(fake_report(), tmp_path)
    names = {p.name for p in written}
    assert names == {"report.json", "report.md", *PLOTS}
    for name in PLOTS:
        with Image.open(tmp_path / name) as image:
            image.verify()
        with Image.open(tmp_path / name) as image:
            width, height = image.size
            assert 600 <= width <= 2000 and 300 <= height <= 1400, (name, image.size)
            # not a blank canvas: a readable plot has many distinct colours
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 20
    markdown = (tmp_path / "report.md").read_text()
    assert all(f"]({name})" in markdown for name in PLOTS)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes left no temp files


def test_plots_cope_with_no_quantized_artifacts(tmp_path: Path) -> None:
    rows = [r for r in fake_rows(batch_sizes=(1,), threads=(1,)) if r.quantization == "none"]
    paths = write_plots(fake_report(rows), tmp_path)
    assert [p.name for p in paths] == list(PLOTS)
