"""What a user and an operator see of one `vcoin node --dev --worker`: dev
keys wherever a key name goes, `job submit --wait --json` with the job's
record, `rpc_methods` over plain HTTP as curl sends it, the market's
Prometheus families moving as jobs run, and the Grafana dashboard in docs/
asking only for metrics the node exports."""

import json
import os
import re
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.crypto import dev_keypair, to_address
from tests.nodeproc import REPO, NodeProcess, fast_dev_spec, vcoin, wait_until

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
WINDOWS = {"job_commit_window": 10, "job_reveal_window": 4, "job_challenge_window": 3}
ALICE = to_address(dev_keypair("//alice").public)
EMBED = {"kind": "embed", "model": "all-minilm-l6-v2"}
DASHBOARD = REPO / "docs" / "grafana-vcoin.json"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    root = tmp_path_factory.mktemp("observed")
    proc = NodeProcess(
        root / "node", fast_dev_spec(root / "spec.json", **WINDOWS), extra=["--worker", "--executor", "local"]
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def submit_embed(node: NodeProcess, text: str, *more: str) -> Any:
    out = node.cli("job", "submit", "--from", "//bob", "--kind", "embed", "--model", "all-minilm-l6-v2",
                   "--input", text, "--max-fee", "1", "--wait", "--timeout", "120", *more)  # fmt: skip
    assert out.returncode == 0, out.stderr + node.log.read_text()[-2000:]
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def served(node: NodeProcess) -> dict[str, Any]:
    """One embedding job through the CLI, as a script would submit it."""
    printed: dict[str, Any] = submit_embed(node, "GPU providers earn VCoin", "--json")
    return printed


def metrics(node: NodeProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{node.prometheus_port}/metrics", timeout=10).read()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def sample(node: NodeProcess, name: str, **labels: str) -> float | None:
    return metrics(node).get((name, tuple(sorted(labels.items()))))


def test_wallet_address_takes_a_dev_key(node: NodeProcess) -> None:
    out = vcoin("wallet", "address", "//bob", "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown == {"name": "//bob", "address": to_address(dev_keypair("//bob").public)}
    assert node.rpc("vcoin_account", shown["address"])["free"] > 0  # the funded dev account
    out = vcoin("wallet", "address", "//bob")
    assert out.returncode == 0 and out.stdout.strip() == shown["address"]


def test_job_submit_wait_json_carries_the_job_record_beside_the_result(
    node: NodeProcess, served: dict[str, Any]
) -> None:
    record, result = served["job"], served["result"]
    now = node.rpc("vcoin_job", record["id"])
    for field in ("id", "kind", "model", "provider", "units", "price", "resultHash", "submitter"):
        assert record[field] == now[field], field
    assert record["status"] in ("revealed", "settled") and record["provider"] == ALICE and record["units"] > 0
    assert record["check"] in ("none", "open", "passed") and isinstance(record["fee"], int)
    assert len(result["vectors"]) == 1 and len(result["vectors"][0]) == 384
    # without --json: the rendered result alone, as before
    plain = submit_embed(node, "a second sentence")
    assert set(plain) == set(result) and len(plain["vectors"]) == 1


def test_rpc_methods_answers_a_curl_style_post(node: NodeProcess) -> None:
    # what `curl -s -d '{"jsonrpc":...}' URL` sends: a form content type, the JSON as the body
    request = urllib.request.Request(
        node.url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"rpc_methods"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
    assert answer["id"] == 1 and "error" not in answer, answer
    methods = answer["result"]["methods"]
    for name in ("rpc_methods", "system_health", "author_submitExtrinsic", "vcoin_job", "vcoin_jobs"):
        assert name in methods


def runner_pids(node: NodeProcess, log_name: str) -> list[int]:
    """The node's sandboxed runner processes writing to `worker/<log_name>`."""
    assert node.proc is not None
    found = []
    for task in Path(f"/proc/{node.proc.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                stderr = Path(f"/proc/{child}/fd/2").resolve()
            except OSError:
                continue
            if stderr.name == log_name:
                found.append(int(child))
    return found


def test_the_market_shows_up_in_prometheus(node: NodeProcess, served: dict[str, Any]) -> None:
    job_id = served["job"]["id"]
    wait_until(lambda: node.rpc("vcoin_job", job_id)["status"] == "settled", 60, "the job to settle")
    wait_until(
        lambda: (sample(node, "vcoin_market_jobs_served_total", **EMBED) or 0) >= 1, 30, "the served counter"
    )
    assert (sample(node, "vcoin_market_jobs_assigned_total", **EMBED) or 0) >= 1
    assert (sample(node, "vcoin_worker_job_execution_seconds_count", kind="embed") or 0) >= 1
    assert (sample(node, "vcoin_provider_earnings_base_units_total", source="job_fee") or 0) > 0
    assert (sample(node, "vcoin_blob_store_bytes") or 0) > 0 and (
        sample(node, "vcoin_blob_store_blobs") or 0
    ) >= 1
    for outcome in ("passed", "mismatch", "disputed", "expired"):
        assert sample(node, "vcoin_market_verifications_total", outcome=outcome) is not None
    for offence in ("missed_reveal", "mismatch", "failed_known_answer", "equivocation"):
        assert sample(node, "vcoin_market_slashes_total", offence=offence) is not None
    assert sample(node, "vcoin_worker_executor_restarts_total", worker="provider") == 0

    # the runner dies between two jobs: the next job starts a fresh one, and that shows
    runners = runner_pids(node, "runner.log")
    assert len(runners) == 1, runners
    os.kill(runners[0], signal.SIGKILL)
    submit_embed(node, "after the runner died", "--json")
    assert sample(node, "vcoin_worker_executor_restarts_total", worker="provider") == 1
    assert (sample(node, "vcoin_worker_job_execution_seconds_count", kind="embed") or 0) >= 2


def dashboard_metric_names() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10 and all(exprs)
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return {name for expr in exprs for name in re.findall(r"\bvcoin_[a-z0-9_]+", expr)}


def test_the_grafana_dashboard_asks_only_for_exported_metrics(node: NodeProcess) -> None:
    text = urllib.request.urlopen(f"http://127.0.0.1:{node.prometheus_port}/metrics", timeout=10).read()
    exported: set[str] = set()
    for family in text_string_to_metric_families(text.decode()):
        exported.add(family.name)
        exported.update(s.name for s in family.samples)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ())
        exported.update(family.name + suffix for suffix in suffixes)
    wanted = dashboard_metric_names()
    assert wanted - exported == set()
    for name in ("vcoin_market_jobs_failed_total", "vcoin_market_jobs_refunded_total",
                 "vcoin_market_requests_served_total", "vcoin_worker_executor_restarts_total",
                 "vcoin_worker_job_execution_seconds_bucket", "vcoin_provider_earnings_base_units_total"):  # fmt: skip
        assert name in wanted
