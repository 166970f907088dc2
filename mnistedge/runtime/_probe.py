"""Load model bytes nobody vouched for in a separate process first.

An engine that segfaults or aborts on a malformed model would take the caller's
process with it; the structural checks catch what we know about, the probe
catches the rest. A long-lived worker process loads the bytes exactly as
``load()`` would and runs the same self-test; only if it survives and succeeds
does the caller's process touch them. The worker is reused (a probe costs a few
milliseconds after the first, which pays for starting Python and the engine),
restarted after a crash or timeout, and a crash in a worker that had already
seen other models is retried once in a fresh worker before the model is blamed.

Run as ``python -m mnistedge.runtime._probe`` it is the worker.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_TIMEOUT_S", "probe"]

DEFAULT_TIMEOUT_S = 60.0
START_TIMEOUT_S = 60.0
WORKER_COMMAND = [sys.executable, "-m", "mnistedge.runtime._probe"]
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class _WorkerDied(Exception):
    def __init__(self, returncode: int) -> None:
        self.returncode = returncode


class _Worker:
    """One probe process: send ``header line + bytes``, read one JSON line back."""

    def __init__(self) -> None:
        path = os.environ.get("PYTHONPATH")
        env = dict(
            os.environ,
            PYTHONPATH=_PACKAGE_ROOT + (os.pathsep + path if path else ""),
            TF_CPP_MIN_LOG_LEVEL="3",
        )
        # Engine chatter goes to a file that lives as long as the worker; shown if it cannot start.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            WORKER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
        )
        self.used = 0
        if not self._readable(START_TIMEOUT_S) or not self.proc.stdout.readline():
            self.kill()
            self.stderr.seek(0)
            tail = self.stderr.read()[-800:].decode("utf-8", "replace").strip()
            raise RuntimeError(
                f"the probe process did not start ({' '.join(WORKER_COMMAND)}): {tail or 'no output'}."
                f" Fix the environment, or load with isolate=False to skip the probe"
            )

    def _readable(self, timeout: float) -> bool:
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            return bool(sel.select(timeout))

    def check(self, request: dict[str, Any], data: bytes, timeout: float) -> dict[str, Any]:
        header = json.dumps(request | {"size": len(data)}).encode() + b"\n"
        self.used += 1
        try:
            self.proc.stdin.write(header + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _WorkerDied(self.proc.wait()) from None
        if not self._readable(timeout):
            self.kill()
            raise TimeoutError
        line = self.proc.stdout.readline()
        if not line:
            raise _WorkerDied(self.proc.wait())
        return json.loads(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


_lock = threading.Lock()
_worker: _Worker | None = None
_passed: set[str] = set()  # "sha256:provider:threads[:normalization:output]" a probe loaded and ran


def _shutdown() -> None:
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None


atexit.register(_shutdown)


def _crash_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def probe(
    model: Any,
    *,
    provider: str = "auto",
    threads: int | None = None,
    normalization: Any = None,
    output: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Load and self-test ``model`` (a ModelFile) in the probe worker, as ``load()`` would.

    ``normalization`` (a ``core.contract.Normalization``; None: mnistedge's own) and ``output``
    are the caller's convention, so the worker builds the same backend as the caller.

    Raises:
        ValueError: the engine rejected the model, crashed on it, or hung past ``timeout``.
        RuntimeError: no probe process can be started here (a frozen app, a broken install).
    """
    global _worker
    if getattr(sys, "frozen", False):
        raise RuntimeError(
            "cannot start a probe process from a frozen app; load with isolate=False, or ship "
            "the manifest.json that vouches for the model"
        )
    with _lock:
        norm = None if normalization is None or normalization.identity else normalization.to_dict()
        key = f"{model.sha256}:{provider}:{threads}"
        if norm is not None or output is not None:  # mnistedge's own convention keeps the short key
            key += f":{json.dumps(norm)}:{output}"
        if key in _passed:
            return
        request = {
            "format": model.format,
            "path": str(model.path),
            "entry": model.manifest_entry,
            "provider": provider,
            "threads": threads,
            "normalization": norm,
            "output": output,
        }
        for _attempt in range(2):
            if _worker is None or _worker.proc.poll() is not None:
                _worker = _Worker()
            worker = _worker
            try:
                reply = worker.check(request, model.data, timeout)
                break
            except _WorkerDied as died:
                _worker = None
                if worker.used > 1:  # it had loaded other models: retry in a fresh worker
                    continue
                raise ValueError(
                    f"{model.path}: the {model.format} engine crashed loading this model in a "
                    f"probe process ({_crash_reason(died.returncode)}); the file is malformed "
                    f"or hostile. Re-export it"
                ) from None
            except TimeoutError:
                _worker = None
                raise ValueError(
                    f"{model.path}: loading this model did not finish within {timeout:g} s in a "
                    f"probe process; the file is malformed or hostile"
                ) from None
        else:  # pragma: no cover - needs two crashes in a row, the second in a fresh worker
            raise ValueError(f"{model.path}: the probe process crashed twice on this model")
        if not reply.get("ok"):
            raise ValueError(reply.get("error") or f"{model.path}: the probe rejected this model")
        _passed.add(key)


def _serve() -> None:
    """Worker loop: read ``header + bytes``, load like ``load()`` does, reply one JSON line."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # engines that print must not corrupt the reply stream
    from mnistedge.core.contract import MNISTEDGE_NORMALIZATION, Normalization
    from mnistedge.core.io import sha256_bytes
    from mnistedge.runtime._backend import backend_class, self_test
    from mnistedge.runtime._integrity import ModelFile

    print(json.dumps({"ready": True}), file=replies, flush=True)
    stdin = sys.stdin.buffer
    while header := stdin.readline():
        meta = json.loads(header)
        data = stdin.read(meta["size"])
        path = Path(meta["path"])
        try:
            model = ModelFile(path, meta["format"], data, sha256_bytes(data), meta["entry"], False)
            norm = meta.get("normalization")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the caller reports provider fallback itself
                backend = backend_class(model.format)(
                    model,
                    provider=meta["provider"],
                    threads=meta["threads"],
                    normalization=MNISTEDGE_NORMALIZATION if norm is None else Normalization(**norm),
                    output=meta.get("output"),
                )
            self_test(backend, path)
            reply: dict[str, Any] = {"ok": True}
        except Exception as exc:  # every rejection goes back to the caller as text
            reply = {"ok": False, "error": str(exc), "type": type(exc).__name__}
        print(json.dumps(reply), file=replies, flush=True)


if __name__ == "__main__":
    _serve()
