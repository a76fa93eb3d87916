"""`vcoin bench dashboard`: how long the web dashboard takes to load with
10,000 blocks in the chain.

A chain of `blocks` sealed empty blocks is built offline (its slots end just
before now), then a validator node runs on it (authoring on, so heads keep
arriving over the WebSocket) and its history index catches up. Headless
chromium (Debian's, through Playwright) then opens each page `loads` times in
a fresh context (a first visit: no cache) and the time from navigation to
the page's own "rendered" mark (`body[data-ready="1"]`, set once its data is
on screen) is taken. The headline ratio is the summary's median load over
the goal of 1 s (≤ 1 meets it).
"""

import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.crypto import dev_keypair, to_address
from tools.bench.network_bench import build_chain
from tools.procs import spawn, stop_all, wait_rpc
from tools.testnet import plan_node

GOAL_SECONDS = 1.0
PAGES = ("", "blocks", "market", "charts", "governance", "account/ALICE")


@dataclass(frozen=True)
class DashboardBenchResult:
    blocks: int
    loads: int
    index_seconds: float
    summary_median_s: float
    summary_max_s: float
    pages_median_s: dict[str, float]
    goal_s: float
    ratio: float

    def to_json(self) -> dict[str, Any]:
        return {"name": "dashboard", **self.__dict__}


def _chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
    if found is None:
        raise RuntimeError("no chromium (apt-get install chromium)")
    return found


def _time_loads(url: str, routes: list[str], loads: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright  # the test extra

    timings: dict[str, list[float]] = {route: [] for route in routes}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium())
        try:
            for _ in range(loads):
                for route in routes:
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(f"{url}/#/{route}")
                    page.locator(f'body[data-ready="1"][data-route="{route}"]').wait_for(timeout=30_000)
                    timings[route].append(time.perf_counter() - started)
                    context.close()
        finally:
            browser.close()
    return timings


def run(blocks: int = 10_000, loads: int = 5) -> DashboardBenchResult:
    with tempfile.TemporaryDirectory(prefix="vcoin-bench-dashboard-") as tmp:
        root = Path(tmp)
        spec_path = build_chain(root, blocks, "bench-dashboard", "node")
        node = plan_node(root / "node", "dashboard", key="//alice")
        procs = [spawn(node.command(spec_path, []), root / "node.log")]
        try:
            client = wait_rpc(node.rpc_url, procs[0])
            started = time.monotonic()
            while (client.call("vcoin_history", {"points": 2})["indexedTo"] or 0) < blocks:
                if time.monotonic() - started > 600:
                    raise TimeoutError("the history index did not catch up in 10 minutes")
                time.sleep(0.2)
            index_seconds = time.monotonic() - started
            routes = [r.replace("ALICE", to_address(dev_keypair("//alice").public)) for r in PAGES]
            timings = _time_loads(node.rpc_url, routes, loads)
        finally:
            stop_all(procs)
    summary = timings[""]
    median = statistics.median(summary)
    return DashboardBenchResult(
        blocks=blocks, loads=loads, index_seconds=round(index_seconds, 2),
        summary_median_s=round(median, 3), summary_max_s=round(max(summary), 3),
        pages_median_s={(r.split("/")[0] or "summary"): round(statistics.median(t), 3) for r, t in timings.items()},
        goal_s=GOAL_SECONDS, ratio=round(median / GOAL_SECONDS, 3),
    )  # fmt: skip
