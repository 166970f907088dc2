"""Headless Chromium on a served bundle, with every request that leaves 127.0.0.1 blocked and counted.

Playwright drives the *system* Chromium (``executable_path``): ``playwright install`` downloads
a browser, which machines without internet access cannot do. Chromium's own background calls
to Google hosts (component updates, safe browsing, metrics) are switched off by flags, so a
count of requests leaving the machine counts only what the page asks for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from mnistedge.core.deps import require
from mnistedge.export.web.server import serve_in_thread

__all__ = [
    "CHROMIUM_FLAGS",
    "BrowserSession",
    "OpenPage",
    "browser_session",
    "chromium_hint",
    "find_chromium",
]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# The probe's flags, plus the switches for Chromium's own calls home.
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--no-pings",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,"
    "CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,DialMediaRouteProvider",
)


def find_chromium() -> str | None:
    """``$MNISTEDGE_CHROMIUM``, else the first Chromium/Chrome on PATH; None when there is none."""
    if explicit := os.environ.get("MNISTEDGE_CHROMIUM"):
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return None


def chromium_hint() -> str:
    return (
        "install Chromium (Debian/Ubuntu: `apt-get install chromium`, or run scripts/system-deps.sh) "
        "and Playwright (`pip install 'mnistedge[web]'`), or set MNISTEDGE_CHROMIUM to a Chromium binary"
    )


@dataclass
class OpenPage:
    """A page of the bundle, and what it asked for over the network."""

    page: Any  # playwright.sync_api.Page
    local: list[str] = field(default_factory=list)  # URLs on the bundle's own origin
    blocked: list[str] = field(default_factory=list)  # any other URL: aborted, and counted here
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def evaluate(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)


@dataclass
class BrowserSession:
    """A running Chromium plus the server of one bundle."""

    browser: Any
    server: Any
    version: str

    @property
    def url(self) -> str:
        return self.server.url

    def open(self, *, threads: int | None = None, model: str | None = None, wait: bool = True) -> OpenPage:
        """Open the page in a fresh context (an empty cache: a cold start), ``?threads=&model=``."""
        context = self.browser.new_context()
        origin = urlsplit(self.url).netloc
        opened = OpenPage(page=context.new_page())

        def route(request_route: Any) -> None:
            url = request_route.request.url
            if url.startswith("data:") or urlsplit(url).netloc == origin:
                opened.local.append(url)
                request_route.continue_()
            else:
                opened.blocked.append(url)
                request_route.abort()

        context.route("**/*", route)
        opened.page.on("console", lambda m: m.type == "error" and opened.console_errors.append(m.text))
        opened.page.on("pageerror", lambda e: opened.page_errors.append(str(e)))
        query = {k: v for k, v in {"threads": threads, "model": model}.items() if v is not None}
        opened.page.goto(self.url + (f"?{urlencode(query)}" if query else ""))
        if wait:
            opened.page.evaluate("window.mnistedge.ready")
        return opened


@contextlib.contextmanager
def browser_session(bundle: str | os.PathLike[str]) -> Iterator[BrowserSession]:
    """Serve ``bundle`` on 127.0.0.1 and start headless Chromium; stop both on exit.

    Raises:
        RuntimeError: no Chromium found (the message says how to install one).
        MissingDependencyError: Playwright is not installed.
    """
    executable = find_chromium()
    if executable is None:
        raise RuntimeError(f"no Chromium found: {chromium_hint()}")
    require("playwright", "web")
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_FLAGS]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    with serve_in_thread(bundle) as server, sync_playwright() as playwright:
        # launch() starts from a new, empty profile each time: no cache survives between runs.
        browser = playwright.chromium.launch(executable_path=executable, args=args, headless=True)
        try:
            yield BrowserSession(browser=browser, server=server, version=browser.version)
        finally:
            browser.close()
