"""Engine log noise: TensorFlow, LiteRT and ONNX Runtime print to the terminal from C++.

The CLI keeps them quiet unless ``mnistedge --verbose`` is given. Nothing here runs at
import: the CLI calls :func:`quiet_engines` when a command starts; the calls that make native
engines print (loading a LiteRT model, ``core.deps.require`` importing TensorFlow, whose absl
start-up lines ignore every log level) run inside :func:`native_stderr_silenced`, which shows
what was held back if the call fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["native_stderr_silenced", "quiet_engines", "set_verbose", "verbose"]

_state = {"verbose": False}


def set_verbose(value: bool) -> None:
    """Let engine logs through (``--verbose``) or keep them quiet (the default)."""
    _state["verbose"] = bool(value)


def verbose() -> bool:
    return _state["verbose"]


def quiet_engines() -> None:
    """Silence TensorFlow's C++ logging, unless verbose or the user set it.

    Level 3, not 2: on a machine without a GPU, TensorFlow logs "failed call to cuInit" as an
    error. Real failures still reach the user as Python exceptions.
    """
    if not verbose():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hold back what native code writes to file descriptor 2 during the block.

    LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" from C++, past Python's
    ``sys.stderr``. The output is kept in a temporary file and shown if the block raises,
    so an engine's own explanation of a failure is never lost. Verbose: a no-op. The redirect
    is process-wide for the block's few milliseconds, so keep blocks to the native call itself.
    """
    if verbose():
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (a test runner, an IDE)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), fd)
        try:
            yield
        except BaseException:
            os.dup2(saved, fd)
            held.seek(0)
            text = held.read().decode("utf-8", "replace")
            if text.strip():
                sys.stderr.write(text)
            raise
        finally:
            os.dup2(saved, fd)
            os.close(saved)
