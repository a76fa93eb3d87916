"""Fixtures of the browser tests: Debian's chromium through Playwright, one
worker dev node per module, pages that fail their test on any JavaScript
error, and where screenshots go.

Without chromium (or Playwright) the tests skip, unless
VCOIN_BROWSER_REQUIRED=1 (CI), where that is a failure: as Docker's tests do.
"""

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.crypto import dev_keypair, to_address
from tests.nodeproc import NodeProcess, fast_dev_spec, wait_until

ALICE = to_address(dev_keypair("//alice").public)
# short windows so an embed job settles in about ten 1 s blocks
WINDOWS = {"job_commit_window": 10, "job_reveal_window": 4, "job_challenge_window": 3}
HAVE_MODELS = importlib.util.find_spec("transformers") is not None
WIDTHS = {"desktop": 1280, "phone": 375}


def unavailable(why: str) -> None:
    if os.environ.get("VCOIN_BROWSER_REQUIRED") == "1":
        pytest.fail(f"VCOIN_BROWSER_REQUIRED=1 but {why}")
    pytest.skip(why)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("VCOIN_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # Playwright's own browser download cannot be relied on: always the system's chromium
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed")
    path = chromium_path()
    if path is None:
        unavailable("no chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop-sized page; the test fails if the page logs a JavaScript
    error (an uncaught exception or a console error)."""
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    opened.on("console", lambda m: errors.append(f"console.error: {m.text}") if m.type == "error" else None)
    opened.set_default_timeout(30_000)
    try:
        yield opened
    finally:
        context.close()
    assert not errors, "the page logged JavaScript errors:\n" + "\n".join(errors)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("VCOIN_SCREENSHOTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """`vcoin node --dev --worker` (1 s slots) serving the packaged models."""
    root = tmp_path_factory.mktemp("dashboard")
    spec = fast_dev_spec(root / "spec.json", **WINDOWS)
    proc = NodeProcess(root / "node", spec, extra=["--worker", "--executor", "local"]).start()
    try:
        if HAVE_MODELS:
            wait_until(lambda: len(proc.rpc("vcoin_provider", ALICE)["models"]) >= 1, 90,
                       "the worker to register its models")  # fmt: skip
        yield proc
    finally:
        proc.stop()
