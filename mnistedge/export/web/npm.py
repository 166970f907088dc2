"""The browser runtimes, fetched once with ``npm ci`` from the lockfile this package keeps.

``assets/package.json`` and ``assets/package-lock.json`` pin onnxruntime-web and LiteRT.js.
``npm ci --ignore-scripts`` installs exactly the locked versions (no install scripts run) into a
cache folder named after the lockfile's hash, so a second export, or a second project, copies
from the cache with no network. Only the files a page needs are copied into a bundle
(``RUNTIME_FILES``), not the ~180 MB of ``node_modules``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mnistedge.core.io import atomic_directory, file_lock, sha256_bytes

__all__ = ["ASSETS", "RUNTIME_FILES", "Runtime", "install_runtimes", "lock_key", "npm_hint"]

ASSETS = Path(__file__).resolve().parent / "assets"
NPM_TIMEOUT_S = 600


@dataclass(frozen=True)
class Runtime:
    """A browser runtime: its npm package and the files of it that a bundle serves."""

    name: str  # "onnxruntime-web" | "litert.js": the page's and the report's name
    package: str  # the npm package
    files: tuple[tuple[str, str], ...]  # (path in node_modules, path in the bundle)


_ORT = "onnxruntime-web/dist"
_LITERT = "@litertjs/core/wasm"
RUNTIME_FILES: tuple[Runtime, ...] = (
    Runtime(
        "onnxruntime-web",
        "onnxruntime-web",
        (
            # The wasm-only build (no WebGL/WebGPU code); it imports the threaded SIMD factory.
            (f"{_ORT}/ort.wasm.min.mjs", "vendor/onnxruntime-web/ort.wasm.min.mjs"),
            (f"{_ORT}/ort-wasm-simd-threaded.mjs", "vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs"),
            (f"{_ORT}/ort-wasm-simd-threaded.wasm", "vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"),
        ),
    ),
    Runtime(
        "litert.js",
        "@litertjs/core",
        (
            ("@litertjs/core/dist/index.js", "vendor/litertjs/core.js"),
            ("@litertjs/wasm-utils/dist/index.js", "vendor/litertjs/wasm-utils.js"),
            # Relaxed-SIMD single-thread and threaded builds, and the plain-SIMD one for
            # browsers without relaxed SIMD; LiteRT.js picks one by feature detection.
            *(
                (f"{_LITERT}/litert_wasm_{kind}.{ext}", f"vendor/litertjs/wasm/litert_wasm_{kind}.{ext}")
                for kind in ("internal", "threaded_internal", "compat_internal")
                for ext in ("js", "wasm")
            ),
        ),
    ),
)


def npm_hint() -> str:
    return (
        "Install Node.js and npm: on Debian/Ubuntu `apt-get install nodejs npm` (the project's "
        "scripts/system-deps.sh does it), elsewhere https://nodejs.org/. npm fetches the pinned "
        "onnxruntime-web and LiteRT.js once; later exports copy them from the cache."
    )


def lock_key() -> str:
    """The cache key: a hash of the lockfile and package.json (a new pin is a new folder)."""
    text = (ASSETS / "package.json").read_bytes() + (ASSETS / "package-lock.json").read_bytes()
    return sha256_bytes(text)[:16]


def locked_versions() -> dict[str, str]:
    """Package -> version, as the lockfile pins them."""
    lock = json.loads((ASSETS / "package-lock.json").read_text(encoding="utf-8"))
    packages = lock.get("packages", {})
    return {rt.package: packages[f"node_modules/{rt.package}"]["version"] for rt in RUNTIME_FILES}


def _complete(folder: Path) -> bool:
    return all((folder / "node_modules" / src).is_file() for rt in RUNTIME_FILES for src, _ in rt.files)


def install_runtimes(cache_dir: Path) -> Path:
    """The ``node_modules`` folder holding the locked runtimes, installed with npm if not cached.

    Raises:
        RuntimeError: npm is missing (with how to install it) or ``npm ci`` failed (with its output).
    """
    folder = cache_dir / "npm" / lock_key()
    if _complete(folder):
        return folder / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"the web bundle needs npm to fetch its browser runtimes, and npm is not on PATH. {npm_hint()}"
        )
    with file_lock(cache_dir / "npm" / f"{lock_key()}.lock"):
        if _complete(folder):  # another process installed it while this one waited
            return folder / "node_modules"
        with atomic_directory(folder) as tmp:
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(ASSETS / name, tmp / name)
            try:
                done = subprocess.run(
                    [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=tmp, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(
                    f"npm ci did not finish in {NPM_TIMEOUT_S} s; check the npm registry"
                ) from exc
            if done.returncode != 0:
                output = (done.stderr or done.stdout).strip()[-2000:]
                raise RuntimeError(f"npm ci failed (exit {done.returncode}) in {tmp}:\n{output}")
            if not _complete(tmp):
                raise RuntimeError(f"npm ci finished but left out runtime files in {tmp}/node_modules")
    return folder / "node_modules"
