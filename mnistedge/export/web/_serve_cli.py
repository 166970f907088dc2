"""`mnistedge serve`: serve the web bundle, cross-origin isolated, until Ctrl+C."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["serve"]


def serve(
    directory: Path = typer.Argument(
        Path("artifacts/export/web"), help="The web bundle (mnistedge export --format web)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 exposes the bundle to the network."
    ),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="0 picks a free port."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print one line per request."),
) -> None:
    """Serve the web bundle with the headers wasm threads need (COOP/COEP); Ctrl+C stops it."""
    from mnistedge.core.logs import verbose as global_verbose
    from mnistedge.export.web.server import BundleServer, is_loopback

    log = (lambda line: typer.echo(line, err=True)) if verbose or global_verbose() else None
    try:
        server = BundleServer(directory, host, port, log=log)
    except OSError as exc:  # FileNotFoundError included: no bundle there
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    with server:
        typer.echo(server.url)
        typer.echo(f"Serving {directory}: the page is cross-origin isolated (wasm threads); Ctrl+C stops it.")
        if not is_loopback(host):
            typer.echo(
                f"Warning: listening on {host or '0.0.0.0'}, so the bundle is exposed to the network. "
                "Browsers on other machines see plain http on a non-localhost address, not a secure "
                "context, so the page is not cross-origin isolated for them (wasm runs single-threaded).",
                err=True,
            )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            typer.echo("Stopped.", err=True)
