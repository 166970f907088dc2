"""The exporters, one per format in ``core.formats.FORMATS`` that has one (no if/elif on names)."""

from __future__ import annotations

from mnistedge.core.formats import EDGE_ARTIFACTS, FORMATS, get_format, resolve
from mnistedge.export._exporter import Exporter

__all__ = ["EDGE_ARTIFACTS", "EXPORTERS", "get_exporter"]

EXPORTERS: dict[str, Exporter] = {
    name: resolve(fmt.exporter) for name, fmt in FORMATS.items() if fmt.exporter
}


def get_exporter(format: str) -> Exporter:
    """The exporter for ``format``; ``ValueError`` listing the exportable formats otherwise."""
    if format in EXPORTERS:
        return EXPORTERS[format]
    get_format(format)  # an unknown name gets the table's own message
    raise ValueError(f"Format {format!r} has no exporter. Exportable formats are: {', '.join(EXPORTERS)}.")
