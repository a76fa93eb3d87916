from tests.tools.test_bench_cmd import bench_json


def test_bench_flood_keeps_honest_transfers_flowing_through_a_10x_flood() -> None:
    result = bench_json("flood", "--seconds", "4")
    assert result["flood_over_capacity"] >= 9
    assert result["honest_refused"] == 0 and result["honest_lost"] == 0
    assert result["ratio"] == result["honest_inclusion_p99_blocks"] <= result["goal_inclusion_p99_blocks"]
    assert result["pool_peak_bytes"] <= result["pool_cap_bytes"]
