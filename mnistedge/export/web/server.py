"""A static server for the web bundle: cross-origin isolated, one root folder, nothing else.

Browsers give wasm threads (``SharedArrayBuffer``) only to a cross-origin isolated page, which
needs COOP/COEP headers that ``python -m http.server`` does not send; it also lacks MIME types
for ``.wasm``'s siblings ``.onnx``/``.tflite`` and lists directories. This server sends those
headers on every response, takes MIME types from one explicit table, and answers 404 for
anything outside the root: ``..`` in any spelling, symlinks that leave it, hidden files,
directories without an ``index.html``.

``with serve_in_thread("artifacts/export/web", port=0) as server: fetch(server.url)`` is the
API for automation; ``mnistedge serve`` runs :class:`BundleServer` in the foreground.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import socketserver
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

__all__ = ["DEFAULT_MIME", "MIME_TYPES", "SECURITY_HEADERS", "BundleServer", "is_loopback", "serve_in_thread"]

# Explicit, because Python's mimetypes knows neither .onnx nor .tflite and varies by platform.
MIME_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",  # WebAssembly.instantiateStreaming refuses any other type
    ".json": "application/json",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_MIME = "application/octet-stream"  # .onnx, .tflite and anything unknown

# On every response, errors included: COOP + COEP make the page cross-origin isolated.
SECURITY_HEADERS: dict[str, str] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidate each time, so a re-export is seen without a hard reload
}

_EXPORT_HINT = "run `mnistedge export --format web` first, or pass the bundle folder"
_CHUNK = 1 << 16
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
)
_WILDCARDS = {"", "0.0.0.0", "::"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bundle_root(root: str | os.PathLike[str]) -> Path:
    path = Path(root)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder; {_EXPORT_HINT}")
    if not (path / "index.html").is_file():
        raise FileNotFoundError(f"{path} has no index.html, so it is not a web bundle; {_EXPORT_HINT}")
    return Path(os.path.realpath(path))


class BundleServer(ThreadingHTTPServer):
    """Serve the regular files under ``root`` with the headers a cross-origin isolated page needs.

    Args:
        root: the bundle folder; it must hold ``index.html``.
        host: the address to listen on; ``127.0.0.1`` keeps the bundle off the network.
        port: the port; 0 lets the system pick a free one (read it back from ``url``/``port``).
        log: called with one line per request (``"GET /app.js 200 1234"``); quiet when None.

    Raises:
        FileNotFoundError: ``root`` is missing or has no ``index.html``.
        OSError: the port is in use (or otherwise cannot be bound); the message names it.
    """

    daemon_threads = True  # an open keep-alive connection never holds up shutdown

    def __init__(
        self,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.root = _bundle_root(root)
        self.log = log
        self._bytes_sent: dict[str, int] = {}
        self._bytes_lock = threading.Lock()
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            super().__init__((host.strip("[]"), port), _BundleHandler)
        except OSError as exc:
            raise _bind_error(exc, host, port) from exc

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port/`` with the real port; a wildcard host shows the loopback address,
        the one a local browser treats as a secure context (needed for cross-origin isolation)."""
        host = str(self.server_address[0])
        if host in _WILDCARDS:
            host = "::1" if self.address_family == socket.AF_INET6 else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def bytes_sent(self) -> dict[str, int]:
        """Body bytes written to clients so far per file (``"/index.html"``, from the root; an
        aborted download counts what went out before it). A snapshot: a copy of the dict."""
        with self._bytes_lock:
            return dict(self._bytes_sent)

    def count_bytes(self, path: str, count: int) -> None:
        with self._bytes_lock:
            self._bytes_sent[path] = self._bytes_sent.get(path, 0) + count

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], _DISCONNECTS):  # a closed tab is not an error
            super().handle_error(request, client_address)


def _bind_error(exc: OSError, host: str, port: int) -> OSError:
    where = f"{host}:{port}"
    if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None)):
        message = f"port {port} is already in use on {host}; pick another (--port N) or a free one (--port 0)"
    elif exc.errno in (errno.EACCES, getattr(errno, "WSAEACCES", None)):
        message = f"not allowed to listen on {where} (ports under 1024 need privileges); try --port 0"
    elif isinstance(exc, socket.gaierror):
        message = f"cannot resolve host {host!r}: {exc.strerror}; use an address such as 127.0.0.1"
    else:
        message = f"cannot listen on {where}: {exc.strerror or exc}"
    error = OSError(message)
    error.errno = exc.errno
    return error


class _BundleHandler(BaseHTTPRequestHandler):
    server: BundleServer
    protocol_version = "HTTP/1.1"  # keep-alive: a page pulls a dozen modules and wasm files
    server_version = "mnistedge"  # not the Python version
    timeout = 30  # drop idle keep-alive connections
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stall

    def version_string(self) -> str:
        return self.server_version

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet; see _log
        pass

    def handle(self) -> None:
        with contextlib.suppress(*_DISCONNECTS):
            super().handle()

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every other method (POST, PUT, OPTIONS, ...): 405
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.close_connection = True  # a request body may follow; do not parse it as a request
        self._send_status(405, "405 Method Not Allowed: use GET or HEAD\n", {"Allow": "GET, HEAD"})

    def _serve(self, *, body: bool) -> None:
        if self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a GET with a body: not read, so do not reuse the stream
        found = self._lookup(self.path)
        if isinstance(found, str):
            self._send_status(301, "", {"Location": found})
            return
        if found is None:
            self._send_status(404, "404 Not Found\n")
            return
        real, name = found
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except OSError:
            self._send_status(404, "404 Not Found\n")
            return
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                self._send_status(404, "404 Not Found\n")
                return
            self.send_response(200)
            self.send_header("Content-Type", MIME_TYPES.get(real.suffix.lower(), DEFAULT_MIME))
            self.send_header("Content-Length", str(info.st_size))
            self.end_headers()
            sent = self._copy(fh, info.st_size, name) if body else 0
        self._log(200, sent)

    def _copy(self, fh: Any, size: int, name: str) -> int:
        """Send the file in chunks (a 15 MB wasm is never read whole); count what went out."""
        sent = 0
        try:
            while sent < size:
                chunk = fh.read(min(_CHUNK, size - sent))
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
        except _DISCONNECTS:
            self.close_connection = True
        finally:
            self.server.count_bytes(name, sent)
        if sent < size:  # the file shrank under us: the promised length was not kept
            self.close_connection = True
        return sent

    def _lookup(self, target: str) -> tuple[Path, str] | str | None:
        """The (file, name) a request target names, a redirect ``/dir`` -> ``/dir/``, or None (404)."""
        if not target.startswith("/"):  # absolute-form ("http://host/x"); anything else is refused
            parts = urlsplit(target)
            if parts.scheme not in ("http", "https") or not parts.path.startswith("/"):
                return None
            target = parts.path
        raw, _, query = target.partition("#")[0].partition("?")
        try:
            names = unquote(raw, errors="strict")[1:].split("/")
        except UnicodeDecodeError:
            return None
        is_dir_url = names[-1] == ""
        if is_dir_url:
            names.pop()
        if not _safe_names(names):
            return None
        real, mode = self._inside(self.server.root.joinpath(*names))
        if stat.S_ISDIR(mode):
            real, mode = self._inside(real / "index.html")
            if not stat.S_ISREG(mode):
                return None
            if not is_dir_url:  # relative links in that index.html need the trailing slash
                location = "/" + "".join(f"{quote(name)}/" for name in names)
                return location + (f"?{query}" if query else "")
            names.append("index.html")
        elif is_dir_url:  # "/app.js/"
            return None
        if not stat.S_ISREG(mode):
            return None
        return real, "/" + "/".join(names)

    def _inside(self, path: Path) -> tuple[Path, int]:
        """``path``'s real path and mode; mode 0 when it is missing or leads out of the root
        (a symlink out of it, or onto a hidden file)."""
        root = self.server.root
        try:
            real = Path(os.path.realpath(path))
            if not real.is_relative_to(root) or not _safe_names(real.relative_to(root).parts):
                return real, 0
            return real, os.stat(real).st_mode
        except (OSError, ValueError):
            return path, 0

    def _send_status(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._log(code, len(data) if self.command != "HEAD" else 0)

    def _log(self, code: int, size: int) -> None:
        if self.server.log is not None:
            path = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in self.path)
            self.server.log(f"{self.command} {path} {code} {size}")


def _safe_names(names: Any) -> bool:
    """No empty, hidden, ``.``/``..`` or drive-like component, no separator or NUL inside one."""
    return all(name and not name.startswith(".") and not any(c in name for c in "/\\:\x00") for name in names)


@contextlib.contextmanager
def serve_in_thread(
    root: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log: Callable[[str], None] | None = None,
) -> Iterator[BundleServer]:
    """Serve ``root`` from a background thread for the block; ``server.url`` has the real port.

    The server is shut down and its socket closed when the block ends, however it ends.
    """
    server = BundleServer(root, host, port, log=log)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="mnistedge-serve", daemon=True
    )
    try:
        thread.start()
        yield server
    finally:
        if thread.is_alive():
            server.shutdown()
            thread.join()
        server.server_close()
