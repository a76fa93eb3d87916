import subprocess
import sys

import pytest

from tests.tools.test_bench_cmd import bench_json
from tools.bench.load_bench import percentile, sweep_table

ROW_FIGURES = {
    "offered_tps", "submitted_tps", "finalized_tps", "submitted", "accepted", "refused", "included", "finalized",
    "inclusion_p50", "inclusion_p99", "finality_p50", "finality_p99", "finality_lag_max", "finality_lag_p99",
    "forks", "forks_per_minute", "reorgs", "import_ms_per_transfer", "nodes_exited", "generator_late_max_s",
    "rerouted", "killed_node", "rejoined_after_s", "top_refusal", "sustained",
}  # fmt: skip
HEADLINE = {
    "name", "ratio", "finalized_tps", "offered_tps", "submitted_tps", "generator_rate", "inclusion_p50",
    "inclusion_p99", "finality_p50", "finality_p99", "forks_per_minute", "finality_lag_max", "finality_lag_p99",
    "import_ms_per_transfer", "nodes_exited", "finalized", "submitted", "sustained_tps", "import_tps",
    "slot_seconds", "duration", "senders", "kill_one", "rates",
}  # fmt: skip


@pytest.mark.slow
def test_bench_load_finalizes_every_transfer_with_a_validator_killed_and_restarted() -> None:
    """A tiny run end to end: 20 transfers/s for 15 s on 1 s slots, node-4
    killed 5 s in and restarted at 10 s. Generous drain: the bench stops
    waiting as soon as everything is final."""
    result = bench_json(
        "load", "--rate", "20", "--duration", "15", "--slot-seconds", "1", "--senders", "16", "--kill-one",
        "--drain-slots", "60", "--accounts", "300", "--blocks", "2", "--per-block", "150",
    )  # fmt: skip
    assert set(result) == HEADLINE and result["name"] == "load"
    (row,) = result["rates"].values()
    assert set(row) == ROW_FIGURES and list(result["rates"]) == ["20"]
    assert result["submitted"] == row["submitted"] == 300 and row["offered_tps"] == 20.0
    assert row["refused"] == 0 and row["accepted"] == 300
    assert result["finalized"] == row["included"] == 300, row
    assert result["nodes_exited"] == 0
    assert row["killed_node"] == 4 and row["rejoined_after_s"] > 0 and row["rerouted"] > 0
    assert result["generator_rate"] > 10 * result["offered_tps"]
    assert result["ratio"] == result["finalized_tps"] / result["import_tps"] > 0
    assert 0 < row["inclusion_p50"] <= row["inclusion_p99"] and row["inclusion_p50"] <= row["finality_p50"]
    assert row["finality_p50"] <= row["finality_p99"] < 60
    assert 0 <= row["finality_lag_p99"] <= row["finality_lag_max"]
    assert row["forks"] >= 0 and row["import_ms_per_transfer"] > 0


def test_bench_load_refuses_a_bad_sweep_before_starting_anything() -> None:
    out = subprocess.run([sys.executable, "-m", "tools.cli", "bench", "load", "--sweep", "100,lots"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode != 0 and "load:" in out.stderr and "Traceback" not in out.stderr


def test_sweep_table_has_a_column_per_rate_and_percentiles_take_the_nearest_rank() -> None:
    from rich.console import Console

    rows = {
        "100": {"finalized_tps": 99.5, "sustained": True},
        "250": {"finalized_tps": 180.0, "sustained": False},
    }
    console = Console(width=120, record=True)
    console.print(sweep_table(rows))
    text = console.export_text()
    assert "100/s" in text and "250/s" in text and "180.00" in text and "False" in text
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(100)], 99) == 98.0
