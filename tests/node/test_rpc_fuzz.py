"""Malformed, mistyped and oversized requests get error objects; blocks keep coming."""

import json
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.nodeproc import NodeProcess

pytestmark = pytest.mark.slow


def post(node: NodeProcess, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        node.url, data=body, method="POST", headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def error_code(body: bytes) -> int:
    return int(json.loads(body)["error"]["code"])


def test_malformed_requests_get_jsonrpc_errors(dev_node: NodeProcess) -> None:
    start = dev_node.best()
    cases = {
        b"{not json": -32700,
        b"[]": -32600,
        b"42": -32600,
        b'{"jsonrpc":"1.0","method":"system_health","id":1}': -32600,
        b'{"jsonrpc":"2.0","method":7,"id":1}': -32600,
        b'{"jsonrpc":"2.0","method":"nope","id":1}': -32601,
        b'{"jsonrpc":"2.0","method":"vcoin_account","params":[12],"id":1}': -32602,
        b'{"jsonrpc":"2.0","method":"vcoin_account","params":["vc1bad"],"id":1}': -32602,
        b'{"jsonrpc":"2.0","method":"chain_getBlockHash","params":[-1],"id":1}': -32602,
        b'{"jsonrpc":"2.0","method":"chain_getHeader","params":["0x00"],"id":1}': -32602,
        b'{"jsonrpc":"2.0","method":"author_submitExtrinsic","params":["0xc1"],"id":1}': 1010,
        b'{"jsonrpc":"2.0","method":"system_health","params":{"a":1},"id":1}': -32602,
        b'{"jsonrpc":"2.0","method":"system_health","id":[1]}': -32600,
        b"[" * 100_000 + b"]" * 100_000: -32700,
        b'{"jsonrpc":"2.0","method":"vcoin_proposal","params":[1e400],"id":1}': -32602,
    }
    for body, code in cases.items():
        status, answer = post(dev_node, body)
        assert status == 200 and error_code(answer) == code, (body[:80], answer)
    status, answer = post(dev_node, b'[{"jsonrpc":"2.0","method":"system_health","id":1},{"bad":1}]')
    answers = json.loads(answer)
    assert "result" in answers[0] and answers[1]["error"]["code"] == -32600
    status, answer = post(dev_node, b'{"jsonrpc":"2.0","method":"system_health"}')
    assert status == 204 and answer == b""
    status, answer = post(
        dev_node,
        b'{"jsonrpc":"2.0","method":"system_health","params":[],"id":1,"pad":"' + b"x" * 2_000_000 + b'"}',
    )
    assert status == 413
    dev_node.wait_for_block(start + 2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(
        [
            "system_health",
            "chain_getHeader",
            "chain_getBlock",
            "vcoin_account",
            "vcoin_staking",
            "state_getStorage",
            "author_submitExtrinsic",
            "vcoin_extrinsic",
            "vcoin_proposal",
            "chain_getBlockHash",
        ]
    ),
    params=st.lists(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=70)
        | st.lists(st.integers(), max_size=3),
        max_size=3,
    ),
)
def test_random_params_never_break_the_node(dev_node: NodeProcess, method: str, params: list[object]) -> None:
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    status, answer = post(dev_node, body)
    assert status == 200
    reply = json.loads(answer)
    assert "result" in reply or reply["error"]["code"] != -32603, reply
