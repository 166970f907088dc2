"""The web target: a static bundle (onnxruntime-web, LiteRT.js) with a draw-a-digit page.

``export_web`` writes the bundle; ``server`` serves it cross-origin isolated on loopback.
"""

from mnistedge.export.web.bundle import WebBundle, export_web, read_catalog

__all__ = ["WebBundle", "export_web", "read_catalog"]
