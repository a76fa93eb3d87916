"""`vcoin bench cheat --sessions`: a small run of the session strategies over
the real runtime (settles, sampled leaves, publications, checks and
known-answer sessions)."""

from tests.tools.test_bench_cmd import bench_json

STRATEGIES = {"honest", "lazy", "copycat", "intermittent_0.2", "intermittent_0.05", "withholder"}


def test_bench_cheat_sessions_catches_cheaters_and_spares_honest_providers() -> None:
    result = bench_json("cheat", "--sessions", "--session-requests", "3000", "--providers", "3",
                        "--era-length", "20")  # fmt: skip
    assert result["name"] == "cheat-sessions"
    strategies = result["strategies"]
    assert set(strategies) == STRATEGIES
    for figures in strategies.values():
        assert {"providers", "providers_serving", "slashed_share", "requests_to_slash_median",
                "requests_to_slash_p99", "requests_served", "overhead"} <= set(figures)  # fmt: skip
    assert set(result["targets"]) == {"always_cheaters_slashed", "always_cheaters_requests_p99",
                                      "lazy_copycat_requests_p99", "honest_slashed", "verification_overhead"}  # fmt: skip
    assert all({"limit", "value", "met"} == set(t) for t in result["targets"].values())
    # honest providers served most of the requests and none was slashed
    assert result["honest_slashed"] == 0 and strategies["honest"]["slashes"] == 0
    assert result["honest_requests"] > 1000
    # every always-cheating provider that served was slashed: lazy and copycat
    # convicted of a mismatch, the withholder for its missed publications
    for name in ("lazy", "copycat", "withholder"):
        assert strategies[name]["providers_serving"] > 0 and strategies[name]["slashed_share"] == 1.0
    assert strategies["lazy"]["first_offence"].startswith("mismatch")
    assert strategies["withholder"]["first_offence"].startswith("missed_reveal")
    assert strategies["honest"]["balance_change_vc"] > 0 > strategies["lazy"]["balance_change_vc"]
    # the chain's rules were followed throughout: every extrinsic went through
    assert result["failed_extrinsics"] == 0
    assert result["requests"] == 3000 and result["settles"] > 0 and result["samples_published"] > 0
    # the validators' known-answer sessions ran; whether one lands on a cheater before
    # sampling has slashed it depends on the draw (the challenge path has its own
    # tests: tests/offchain/test_known_answer_sessions.py)
    assert result["known_answer_sessions"] > 0
    assert 0 < result["overhead"] < 1
