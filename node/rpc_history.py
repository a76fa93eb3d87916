"""The history index's `vcoin_` RPC methods: series for the dashboard's
charts, answered from `node.history` without rescanning the chain.

| method | params | result |
|---|---|---|
| `vcoin_history` | `[{from?, to?, points?}]` | `{first, last, stride, indexedTo, points: [point]}` |
| `vcoin_providerHistory` | `[address, {points?}]` | `{account, latest, points: [account point]}` |

A chain point (`node.history_point`): `number, hash, slot`, the figures
after the block (`minted, burned, issuance, rewardPool, staked, era,
validators, jobsSubmitted, sessionsOpened`) and running totals since
genesis (`extrinsics, fees, transfers, jobsSettled, jobsRefunded,
jobsRejected, jobFees, sessionsEnded, requestsServed, sessionUnits,
sessionFees, rewards, checksOpened/Passed/Failed/Expired, disputes,
knownAnswersPassed/Failed, batchesVerified/Rejected, slashes, slashed`):
what happened between two points is their difference. `points` (default
200, at most 1,000) are spread evenly over the kept points in range, the
last one always in.
"""

from typing import Any

from node.abc import HistoryHost
from node.history_point import Point
from node.jsonfmt import hex0x, parse_account
from node.rpc import params_between
from node.rpc_namespace import Namespace, rpc

DEFAULT_POINTS = 200
MAX_POINTS = 1_000


def _options(value: Any, allowed: set[str]) -> dict[str, Any]:
    options = value or {}
    if not isinstance(options, dict) or set(options) - allowed:
        raise ValueError(f"options are an object with at most {sorted(allowed)}")
    return options


def _count(value: Any) -> int:
    if value is None:
        return DEFAULT_POINTS
    if type(value) is not int or not 2 <= value <= MAX_POINTS:
        raise ValueError(f"points is an integer from 2 to {MAX_POINTS}")
    return value


def _number(value: Any, default: int) -> int:
    if value is None:
        return default
    if type(value) is not int or value < 0:
        raise ValueError("from and to are non-negative block numbers")
    return value


def spread(items: list[Any], count: int) -> list[Any]:
    """At most `count` of `items`, evenly spaced, first and last kept."""
    if len(items) <= count:
        return items
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def point_json(point: Point) -> dict[str, Any]:
    return {k: hex0x(v) if isinstance(v, bytes) else v for k, v in point.items()}


class HistoryRpc(Namespace):
    prefix = "vcoin"

    def __init__(self, node: HistoryHost) -> None:
        self.node = node

    @rpc("vcoin_history")
    def history(self, params: list[Any]) -> Any:
        (given,) = params_between(params, 0, 1)
        options = _options(given, {"from", "to", "points"})
        index = self.node.history
        top = index.tip if index.tip is not None else -1
        first, last = _number(options.get("from"), 0), _number(options.get("to"), top)
        numbers = spread(index.numbers(first, min(last, top)), _count(options.get("points")))
        found = (index.point(n) for n in numbers)
        return {
            "first": first, "last": last, "stride": index.stride, "indexedTo": index.tip,
            "points": [point_json(p) for p in found if p is not None],
        }  # fmt: skip

    @rpc("vcoin_providerHistory")
    def provider_history(self, params: list[Any]) -> Any:
        """Any account's running totals over time (earnings, slashes, blocks authored)."""
        who, given = params_between(params, 1, 2)
        options = _options(given, {"points"})
        account = parse_account(who)
        points = spread(self.node.history.account(account), _count(options.get("points")))
        latest = self.node.history.account_latest(account)
        return {"account": who, "latest": latest, "points": points}
