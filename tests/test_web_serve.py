"""`mnistedge serve` and BundleServer: the right headers and MIME types, and nothing outside the root.

Paths that http.client would normalise or refuse go out on a raw socket, byte for byte.
Every socket and read has a timeout, and every server and process is stopped in ``finally``.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from mnistedge.cli import app
from mnistedge.export.web import server as server_module
from mnistedge.export.web.server import SECURITY_HEADERS, BundleServer, is_loopback, serve_in_thread

TIMEOUT = 10
SECRET = b"TOP-SECRET-7f3a9c"
ROOT_REPO = Path(__file__).resolve().parents[1]

# name -> (content, Content-Type)
FILES = {
    "index.html": (b"<!doctype html><script type=module src=app.js></script>", "text/html; charset=utf-8"),
    "app.js": (b"import './lib.mjs';\n", "text/javascript; charset=utf-8"),
    "lib.mjs": (b"export const x = 1;\n", "text/javascript; charset=utf-8"),
    "a.wasm": (b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 4, "application/wasm"),
    "m.onnx": (b"\x08\x07onnx-bytes", "application/octet-stream"),
    "m.tflite": (b"\x1c\x00\x00\x00TFL3", "application/octet-stream"),
    "meta.json": (b'{"classes": 10}', "application/json"),
    "style.css": (b"body { margin: 0 }", "text/css"),
    "icon.png": (b"\x89PNG\r\n\x1a\n", "image/png"),
    "pic.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
    "notes.txt": (b"hello", "text/plain; charset=utf-8"),
    "blob.bin": (b"\x00\x01", "application/octet-stream"),
    "UPPER.WASM": (b"\x00asm", "application/wasm"),
}  # fmt: skip


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    """A tiny bundle in tmp_path/web, a secret beside it, and symlinks in and out."""
    root = tmp_path / "web"
    root.mkdir()
    for name, (content, _) in FILES.items():
        (root / name).write_bytes(content)
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_bytes(b"<p>sub page</p>")
    (root / "sub" / "deep.js").write_bytes(b"// deep")
    (root / "empty").mkdir()
    (root / "empty" / "file.txt").write_bytes(b"listed?")
    (root / ".hidden").write_bytes(SECRET)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(SECRET)
    (tmp_path / "secret").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.js").write_bytes(SECRET)
    try:
        (root / "link.js").symlink_to("app.js")
        (root / "leak").symlink_to(tmp_path / "secret")
        (root / "leakdir").symlink_to(tmp_path / "outside", target_is_directory=True)
        (root / "hiddenlink").symlink_to(".hidden")
    except OSError:  # Windows without the privilege to create symlinks
        pass
    return root


@pytest.fixture()
def server(bundle: Path) -> Iterator[BundleServer]:
    with serve_in_thread(bundle, port=0) as running:
        yield running


def get(server: BundleServer, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def raw(server: BundleServer, target: bytes, method: bytes = b"GET") -> tuple[int, dict[str, str], bytes]:
    """Send ``target`` exactly as given (no normalisation) and read until the server closes."""
    request = method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    data = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def assert_isolation_headers(headers: dict[str, str]) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name.lower()) == value, name
    assert "content-length" in headers


@pytest.mark.parametrize("name", FILES)
def test_each_type_is_served_with_its_mime_type_and_the_isolation_headers(server, name) -> None:
    content, mime = FILES[name]
    status, headers, body = get(server, f"/{name}")
    assert status == 200
    assert headers["content-type"] == mime
    assert body == content and headers["content-length"] == str(len(content))
    assert_isolation_headers(headers)


TRAVERSALS = [
    b"/../secret", b"/%2e%2e/secret", b"/%2E%2E%2Fsecret", b"/..%2fsecret", b"/.%2e/secret",
    b"/sub/../../secret", b"/sub/%2e%2e/%2e%2e/secret", b"/sub/..%5c..%5csecret", b"/..%5csecret",
    b"/%2E%2E/%2E%2E/etc/passwd", b"/../../../../../../etc/passwd", b"\\..\\secret", b"/\\..\\secret",
    b"/./../secret", b"/%252e%252e/secret", b"/%c0%ae%c0%ae/secret", b"/\x00secret", b"/%00/../secret",
    b"/app.js%00.png", b"//etc/passwd", b"/%2fetc%2fpasswd", b"http://127.0.0.1/../secret", b"*",
    b"/sub/../index.html",
]  # fmt: skip


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t.decode("latin-1").replace("\x00", "NUL"))
def test_traversal_in_any_spelling_is_404(server, target) -> None:
    status, headers, body = raw(server, target)
    assert status == 404
    assert SECRET not in body and b"root:" not in body
    assert_isolation_headers(headers)


def test_absolute_paths_to_the_secret_are_404(server, bundle) -> None:
    secret = (bundle.parent / "secret").as_posix()
    for target in ("/" + secret, "/" + quote(secret, safe=""), "/" + quote(secret)):
        status, _, body = raw(server, target.encode())
        assert status == 404, target
        assert SECRET not in body


@pytest.mark.parametrize("path", ["/.hidden", "/.git/config", "/.git/", "/sub/../.hidden", "/%2ehidden"])
def test_hidden_files_are_404(server, path) -> None:
    status, _, body = raw(server, path.encode())
    assert status == 404 and SECRET not in body


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlinks_inside_are_served_and_those_leading_out_are_404(server, bundle) -> None:
    if not (bundle / "link.js").is_symlink():
        pytest.skip("this platform would not create symlinks")
    assert get(server, "/link.js")[2] == FILES["app.js"][0]
    for path in ("/leak", "/leakdir/x.js", "/leakdir/", "/hiddenlink"):
        status, headers, body = get(server, path)
        assert status == 404, path
        assert SECRET not in body
        assert_isolation_headers(headers)


def test_directories_serve_their_index_and_are_never_listed(server) -> None:
    assert get(server, "/")[0:3:2] == (200, FILES["index.html"][0])
    assert get(server, "/sub/")[0:3:2] == (200, b"<p>sub page</p>")
    for path in ("/empty/", "/empty", "/missing.js", "/missing/", "/app.js/", "/sub/deep.js/"):
        status, headers, body = get(server, path)
        assert status == 404, path
        assert b"file.txt" not in body and b"app.js" not in body
        assert_isolation_headers(headers)
    status, headers, _ = get(server, "/sub?x=1")  # relative links in sub/index.html need the slash
    assert status == 301 and headers["location"] == "/sub/?x=1"


def test_query_strings_and_fragments_are_ignored_for_the_lookup(server) -> None:
    assert get(server, "/app.js?threads=2")[0:3:2] == (200, FILES["app.js"][0])
    assert get(server, "/?threads=2&backend=wasm")[0:3:2] == (200, FILES["index.html"][0])
    assert raw(server, b"/a.wasm#frag")[0] == 200


def test_head_sends_the_headers_and_no_body(server) -> None:
    status, headers, body = raw(server, b"/a.wasm", method=b"HEAD")
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(FILES["a.wasm"][0]))
    assert headers["content-type"] == "application/wasm"
    assert_isolation_headers(headers)
    status, headers, body = raw(server, b"/missing", method=b"HEAD")
    assert status == 404 and body == b""
    assert_isolation_headers(headers)


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"BREW"])
def test_other_methods_are_405_with_allow(server, method) -> None:
    status, headers, _ = raw(server, b"/index.html", method=method)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert_isolation_headers(headers)


def test_a_post_body_is_not_parsed_as_a_second_request(server) -> None:
    smuggled = b"GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n"
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled
    data = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 ") == 1 and b" 405 " in data


def test_keep_alive_serves_several_requests_on_one_connection(server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        for name in ("index.html", "app.js", "a.wasm", "missing.js", "m.onnx"):
            conn.request("GET", f"/{name}")
            response = conn.getresponse()
            body = response.read()
            assert response.status == (404 if name == "missing.js" else 200)
            if response.status == 200:
                assert body == FILES[name][0]
    finally:
        conn.close()


def test_bytes_sent_counts_bodies_per_file(server) -> None:
    wasm = len(FILES["a.wasm"][0])
    get(server, "/a.wasm")
    get(server, "/a.wasm?again=1")
    get(server, "/a.wasm", method="HEAD")
    get(server, "/")
    get(server, "/missing")
    sent = server.bytes_sent
    assert sent == {"/a.wasm": 2 * wasm, "/index.html": len(FILES["index.html"][0])}
    sent["/a.wasm"] = 0  # a copy: the server's own count is untouched
    assert server.bytes_sent["/a.wasm"] == 2 * wasm


def test_large_files_arrive_whole_and_a_dropped_client_does_not_hurt(bundle) -> None:
    big = os.urandom(1 << 20) * 6  # a 6 MB wasm, sent in chunks
    (bundle / "ort.wasm").write_bytes(big)
    lines: list[str] = []
    with serve_in_thread(bundle, port=0, log=lines.append) as server:
        for _ in range(3):  # clients that hang up after the first bytes
            with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.sendall(b"GET /ort.wasm HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.recv(1024)
        status, headers, body = get(server, "/ort.wasm")
        assert status == 200 and body == big
        assert headers["content-length"] == str(len(big))
        get(server, "/app.js")
    assert f"GET /app.js 200 {len(FILES['app.js'][0])}" in lines
    assert f"GET /ort.wasm 200 {len(big)}" in lines


def test_log_lines_escape_control_characters(bundle) -> None:
    lines: list[str] = []
    with serve_in_thread(bundle, port=0, log=lines.append) as server:
        raw(server, b"/\x1b[31mred")
    assert lines == ["GET /\\x1b[31mred 404 14"]


def test_url_has_the_real_port(server) -> None:
    assert server.port != 0
    assert server.url == f"http://127.0.0.1:{server.port}/"
    with urllib.request.urlopen(server.url, timeout=TIMEOUT) as response:
        assert response.read() == FILES["index.html"][0]


def test_the_server_is_stopped_when_the_block_ends(bundle) -> None:
    with serve_in_thread(bundle, port=0) as server:
        port = server.port
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
        pass


def test_a_missing_bundle_says_to_export_first(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"run `mnistedge export --format web` first"):
        BundleServer(tmp_path / "nope", port=0)
    (tmp_path / "noindex").mkdir()
    with pytest.raises(FileNotFoundError, match=r"has no index\.html.*mnistedge export --format web"):
        BundleServer(tmp_path / "noindex", port=0)


def test_a_port_in_use_is_named_with_the_remedy(bundle) -> None:
    with serve_in_thread(bundle, port=0) as first:
        message = rf"port {first.port} is already in use.*--port 0"
        with pytest.raises(OSError, match=message):
            BundleServer(bundle, port=first.port)


def test_is_loopback() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "", "::", "192.168.1.5", "example.com"]))


runner = CliRunner()


def test_cli_on_a_missing_folder_exits_1_with_the_remedy(tmp_path) -> None:
    result = runner.invoke(app, ["serve", str(tmp_path / "missing"), "--port", "0"])
    assert result.exit_code == 1
    assert "Error: " in result.output and "mnistedge export --format web" in result.output


def test_cli_prints_the_url_first_and_warns_off_loopback(bundle, monkeypatch) -> None:
    def interrupted(self, poll_interval=0.5):
        raise KeyboardInterrupt

    monkeypatch.setattr(server_module.BundleServer, "serve_forever", interrupted)
    result = runner.invoke(app, ["serve", str(bundle), "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", first) and not first.endswith(":0/")
    assert "exposed to the network" in result.output
    quiet = runner.invoke(app, ["serve", str(bundle), "--port", "0"])
    assert quiet.exit_code == 0 and "exposed" not in quiet.output
    assert "cross-origin isolated" in quiet.output and "Ctrl+C" in quiet.output


def test_cli_in_a_real_process_serves_until_interrupted(bundle) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "mnistedge", "serve", str(bundle), "--port", "0"]
    # Ctrl+C as a terminal delivers it: a shell without job control starts background jobs (say
    # `pytest &` in a script) with SIGINT ignored, the child would inherit that, and Python then
    # installs no KeyboardInterrupt handler. Give the server the default disposition.
    restore_sigint = (
        None if sys.platform == "win32" else (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    )
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT_REPO,
        env=env,
        preexec_fn=restore_sigint,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        try:
            url = lines.get(timeout=60).strip()
        except queue.Empty:
            pytest.fail("mnistedge serve printed no URL within 60 s")
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", url)
        assert match and int(match[1]) != 0, url
        assert "cross-origin isolated" in lines.get(timeout=TIMEOUT)
        with urllib.request.urlopen(url + "index.html", timeout=TIMEOUT) as response:
            assert response.read() == FILES["index.html"][0]
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        if sys.platform != "win32":  # Ctrl+C: a clean exit 0
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
