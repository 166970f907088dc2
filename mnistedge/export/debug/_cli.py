"""`mnistedge quant-debug`: per-layer int8 error of both engines; --keep-float re-exports mixed artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mnistedge.export.api import DEFAULT_MODEL, DEFAULT_OUT

_KEEP_HELP = (
    "Re-export both int8 artifacts with these left in float, as model_int8_mixed.tflite/.onnx: "
    "Keras layer names, worst:K (each engine's K worst layers) or engine node names; "
    "repeat the flag or separate by commas."
)


def _cell(stats: Any, engine: Any) -> list[str]:
    """SQNR out/own; grid and error in steps of its worst-fitting tensor; "→ X" when fused into X."""
    if stats is None or not stats.nodes:
        return ["-", "", ""]
    if stats.sqnr_db is None:
        return [f"→ {stats.fused_into}", "", ""]
    own = "-" if stats.own_sqnr_db is None else f"{stats.own_sqnr_db:.1f}"
    owned = [n for n in engine.nodes if n.node.name in stats.owned]
    worst = max(owned, key=lambda n: n.rmse_steps)  # the tensor its grid fits worst
    return [
        f"{stats.sqnr_db:.1f}/{own}",
        f"{worst.grid[0]:.3g}..{worst.grid[1]:.3g}",
        f"{worst.rmse_steps:.1f}",
    ]


def _table(report: Any, top: int) -> Any:
    from rich import box
    from rich.table import Table

    from mnistedge.export.debug.output import table_rows

    table = Table(
        title=f"int8 vs float per Keras layer, {report.n_images} test images (worst {top} per engine in red)",
        caption="dB: SQNR of the layer's output / of the noise it adds itself; grid: int8 range of "
        "its tensor with the largest err, that tensor's RMSE in grid steps (0.3 = rounding only)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("layer", overflow="fold")
    for engine in report.engines:
        table.add_column(f"{engine.engine} dB", justify="right", no_wrap=True)
        table.add_column("grid", justify="right", no_wrap=True)
        table.add_column("err", justify="right", no_wrap=True)
    picks = {e.engine: set(e.worst(top)) for e in report.engines}
    for name, _kind, per_engine in table_rows(report):
        cells = []
        for engine in report.engines:
            row = _cell(per_engine[engine.engine], engine)
            if name in picks[engine.engine]:
                row = [f"[bold red]{c}[/]" for c in row]
            cells += row
        table.add_row(name, *cells)
    return table


def _notes(report: Any, top: int) -> list[str]:
    lines = []
    for engine in report.engines:
        lines.append(f"{engine.engine} worst {top}: {', '.join(engine.worst(top)) or 'none adds noise'}")
        if engine.unmatched_layers:
            lines.append(f"  Keras layers with no {engine.engine} node (folded, identity or float): "
                         f"{', '.join(engine.unmatched_layers)}")  # fmt: skip
        if engine.unmatched_nodes:
            lines.append(
                f"  {engine.engine} nodes no Keras layer accounts for: {', '.join(engine.unmatched_nodes)}"
            )
    lines += [f"{missing}: no int8 artifact, not debugged" for missing in report.missing]
    return lines


def _recovery(out: Path, artifacts: list[Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Per engine: int8 and mixed accuracy, the share of the int8 loss won back, size."""
    from mnistedge.core.manifest import read_manifest
    from mnistedge.export.debug.api import INT8_FILES

    entries = read_manifest(out)["artifacts"]
    summary = {}
    for artifact in artifacts:
        engine = artifact.format
        int8 = entries.get(INT8_FILES[engine], {})
        figures = {"file": artifact.file, "size_bytes": artifact.size_bytes, **plan[engine].to_dict()}
        figures["int8_size_bytes"] = int8.get("size_bytes")
        mixed, base = artifact.fidelity, int8.get("fidelity")
        if mixed is not None and base is not None:
            loss = base["reference_accuracy"] - base["accuracy"]
            figures.update(
                keras_accuracy=mixed.reference_accuracy, int8_accuracy=base["accuracy"],
                mixed_accuracy=mixed.accuracy, mixed_agreement=mixed.agreement,
                recovered=(mixed.accuracy - base["accuracy"]) / loss if loss > 0 else None,
            )  # fmt: skip
        summary[engine] = figures
    return summary


def quant_debug(
    model: Path = typer.Option(
        DEFAULT_MODEL, "--model", help="The trained Keras model the artifacts came from."
    ),
    out: Path = typer.Option(
        DEFAULT_OUT, "--out", help="Export folder with model_int8.tflite/.onnx + manifest."
    ),
    images: int = typer.Option(1000, "--images", min=1, help="Test images compared (seeded sample)."),
    top: int = typer.Option(2, "--top", min=1, help="Worst layers highlighted per engine."),
    keep_float: list[str] | None = typer.Option(None, "--keep-float", metavar="LAYER", help=_KEEP_HELP),
    source: Path | None = typer.Option(
        None, "--source", help="MNIST IDX directory or .npz (default: cache)."
    ),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Write quant_debug.png (needs matplotlib)."),
) -> None:
    """Per-layer SQNR of the int8 TFLite and ONNX artifacts against float; keep the worst layers float."""
    from rich.console import Console

    from mnistedge.core.deps import MissingDependencyError
    from mnistedge.export.artifact import FidelityError
    from mnistedge.export.debug import (
        INT8_FILES,
        MIXED_FILES,
        debug_quantization,
        export_mixed,
    )
    from mnistedge.export.debug.api import int8_entries
    from mnistedge.export.debug.keep_float import check_keep_float
    from mnistedge.export.debug.output import write_json, write_plot

    console = Console()
    requested = [v.strip() for value in keep_float or () for v in value.split(",") if v.strip()]
    try:
        int8_entries(model, out)  # a missing artifact or model is reported before anything loads
        if requested:
            try:
                check_keep_float(model, out, requested)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--keep-float") from exc
        data = None
        if source is not None:
            from mnistedge.data import load_mnist

            data = load_mnist(source)
        report = debug_quantization(model, out, data=data, images=images)
    except (ValueError, OSError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    console.print(_table(report, top))
    for line in _notes(report, top):
        console.print(line)
    extra: dict[str, Any] = {}
    if requested:
        from mnistedge.export._cli import _table as fidelity_table

        try:
            artifacts, plan = export_mixed(model, out, report, requested, data=data)
        except ValueError as exc:  # an engine node name that writes no int8 activation
            raise typer.BadParameter(str(exc), param_hint="--keep-float") from exc
        except FidelityError as exc:
            console.print(fidelity_table(list(exc.exported)))
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from exc
        console.print(fidelity_table(artifacts))
        extra["mixed"] = _recovery(out, artifacts, plan)
        for engine, keep in plan.items():
            if not keep.nodes:
                console.print(f"{engine}: {', '.join(keep.requested)} maps to no {engine} node "
                              "(folded or fused away): no mixed file written")  # fmt: skip
        for engine, figures in extra["mixed"].items():
            recovered = figures.get("recovered")
            share = "" if recovered is None else f", {recovered:.0%} of the int8 loss recovered"
            kept = ", ".join(figures["layers"] or figures["nodes"])
            size = (
                f"{figures['file']} {figures['size_bytes']:,} B (int8: {figures['int8_size_bytes'] or 0:,} B)"
            )
            console.print(f"{engine}: kept float {kept}{share}; {size}")
        only = " ".join(f"--only {f}" for e in extra["mixed"] for f in (INT8_FILES[e], MIXED_FILES[e]))
        console.print(f"latency: mnistedge bench --export-dir {out} {only}")
    console.print(f"report: {write_json(report, out, top, extra)}")
    if plot:
        try:
            console.print(f"plot: {write_plot(report, out, top)}")
        except MissingDependencyError as exc:
            console.print(f"plot skipped: {exc}")
