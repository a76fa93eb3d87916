"""A batch's answer is bounded as a whole: once it is large, the rest of
the batch is answered with an error instead of being run."""

import json

import pytest

from node import rpc
from node.rpc import BATCH_TOO_LARGE, RpcHandler


def test_a_batch_stops_running_calls_once_its_answer_is_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpc, "MAX_BATCH_ANSWER", 1_000)
    calls: list[int] = []

    def big(params: list[object]) -> str:
        calls.append(1)
        return "x" * 600

    handler = RpcHandler({"big": big})
    batch = [{"jsonrpc": "2.0", "id": i, "method": "big", "params": []} for i in range(5)]
    answers = json.loads(handler.handle(json.dumps(batch).encode()) or b"")
    assert len(calls) == 2 and [a["id"] for a in answers] == [0, 1, 2, 3, 4]
    assert all(a["error"]["code"] == BATCH_TOO_LARGE for a in answers[2:])
    assert all(a["result"] == "x" * 600 for a in answers[:2])
