"""`vcoin bench state` at tiny sizes: the figures are computed from the run
(not asserted fast), and a size past the genesis allocation's reach builds."""

from pathlib import Path

from node.chain import Chain
from node.storage import ChainStore
from runtime.crypto import Keypair
from runtime.pallets import balances, treasury
from tests.tools.test_bench_cmd import bench_json
from tools.bench.import_bench import bench_spec
from tools.bench.state_writer import EXTRA_BALANCE, extra_account, write_state


def test_bench_state_json_reports_per_size_figures_and_their_ratio() -> None:
    result = bench_json(
        "state", "--accounts", "200,500", "--blocks", "2", "--per-block", "40", "--disk-window", "4",
        "--disk-blocks", "4", "--repeats", "1", "--steady", "2",
    )  # fmt: skip
    assert result["name"] == "state" and result["transfers"] == 80
    sizes = result["sizes"]
    assert set(sizes) == {"200", "500"}
    for figures in sizes.values():
        assert figures["transfers_per_s"] == 80 / figures["seconds"]
        assert 30 < figures["peak_rss_mb"] < 4_000  # its own process's peak, in MiB
        assert figures["disk_bytes_per_transfer"] > 0
    assert result["ratio"] == sizes["500"]["transfers_per_s"] / sizes["200"]["transfers_per_s"]
    assert all(
        figures["steady_transfers_per_s"] > 0 and figures["first_block_s"] > 0 for figures in sizes.values()
    )
    assert result["ratio_steady"] == (
        sizes["500"]["steady_transfers_per_s"] / sizes["200"]["steady_transfers_per_s"]
    )
    assert "ratio" in result["goals"]
    disk = result["disk"]  # the same blocks into a pruned and an archive copy
    assert disk["window_blocks"] == 4 and disk["measured_blocks"] == 4
    pruned, archive = disk["pruned"], disk["archive"]
    assert 0 < pruned["logical_bytes_per_transfer"] < archive["logical_bytes_per_transfer"]
    assert pruned["logical_by_prefix"].get("e:", 0) <= 0  # events go with the state


def test_the_state_writer_goes_past_the_genesis_allocation(tmp_path: Path) -> None:
    keys = [Keypair(bytes([i]) * 32) for i in range(1, 4)]
    spec = bench_spec(keys)
    write_state(tmp_path / "db", spec, 2_500)
    store = ChainStore(tmp_path / "db")
    try:
        chain = Chain(store, spec)
        state = chain.state
        assert balances.get(state, extra_account(2_499)).free == EXTRA_BALANCE
        assert balances.get(state, extra_account(2_500)).free == 0
        assert chain.flat.covers(chain.best.state_root)
        assert balances.get(state, treasury.ECOSYSTEM).free > 0
        # moved out of the ecosystem account, not minted: the supply invariant holds
        prefix = balances.Accounts.prefix
        held = sum(
            balances.Accounts.get(state, key[len(prefix) :]).total
            for key, _ in state.items()
            if key.startswith(prefix)
        )
        assert held + balances.Burned.get(state) == balances.Minted.get(state)
    finally:
        store.close()
