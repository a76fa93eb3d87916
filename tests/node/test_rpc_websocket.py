"""JSON-RPC over WebSocket on a real dev node's RPC port: heads
subscriptions in Substrate's shape, ordinary methods, and the bounds."""

import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from node.rpc_subscriptions import MAX_SUBSCRIPTIONS, TOO_MANY_SUBSCRIPTIONS
from node.rpc_ws_clients import MAX_PER_ADDRESS
from tests.node.wsclient import RpcError, WsRpc
from tests.nodeproc import NodeProcess
from tools.client import RpcFailure

pytestmark = pytest.mark.slow
MAX_BODY = 1024 * 1024  # NodeConfig.max_rpc_body


def run(node: NodeProcess, test: Callable[[WsRpc], Awaitable[None]]) -> None:
    async def main() -> None:
        with trio.fail_after(120):  # a hang fails the test, not the run
            async with open_websocket_url(f"ws://127.0.0.1:{node.rpc_port}/") as ws:
                await test(WsRpc(ws))

    trio.run(main)


def test_new_heads_arrive_in_order_match_chain_get_header_and_stop_on_unsubscribe(
    dev_node: NodeProcess,
) -> None:
    async def test(rpc: WsRpc) -> None:
        subscription = await rpc.call("chain_subscribeNewHeads")
        assert isinstance(subscription, str)
        numbers: list[int] = []
        while len(numbers) < 4:  # the current head first, then each new best block
            message = await rpc.notification(subscription)
            assert message["jsonrpc"] == "2.0" and message["method"] == "chain_newHead"
            header = message["params"]["result"]
            assert header == await rpc.call("chain_getHeader", header["hash"])
            numbers.append(header["number"])
        assert numbers == sorted(set(numbers))
        assert await rpc.call("chain_unsubscribeNewHeads", subscription) is True
        assert await rpc.call("chain_unsubscribeNewHeads", subscription) is False
        stopped_at = (await rpc.call("system_health"))["bestNumber"]
        while (await rpc.call("system_health"))["bestNumber"] < stopped_at + 2:
            await trio.sleep(0.2)  # polling a condition: two more blocks
        late = [m for m in rpc.notifications if m["params"]["subscription"] == subscription]
        assert all(m["params"]["result"]["number"] <= stopped_at for m in late)

    run(dev_node, test)


def test_finalized_heads_and_ordinary_methods_over_the_socket(dev_node: NodeProcess) -> None:
    async def test(rpc: WsRpc) -> None:
        subscription = await rpc.call("chain_subscribeFinalizedHeads")
        first = (await rpc.notification(subscription))["params"]
        assert first["result"]["hash"] == await rpc.call("chain_getFinalizedHead")
        later = (await rpc.notification(subscription))["params"]["result"]
        assert later["number"] > first["result"]["number"]
        assert later == await rpc.call("chain_getHeader", later["hash"])
        all_heads = await rpc.call("chain_subscribeAllHeads")
        assert (await rpc.notification(all_heads))["method"] == "chain_allHead"
        assert "chain_subscribeNewHeads" in (await rpc.call("rpc_methods"))["methods"]
        await rpc.send(json.dumps([{"jsonrpc": "2.0", "id": "a", "method": "system_name"},
                                   {"jsonrpc": "2.0", "id": "b", "method": "nope"}]))  # fmt: skip
        batch = await rpc.answer(None)
        assert isinstance(batch, list) and batch[0]["result"] == "vcoin-node"
        assert batch[1]["error"]["code"] == -32601
        await rpc.send("{not json")
        assert (await rpc.answer(None))["error"]["code"] == -32700
        summary = await rpc.call("vcoin_summary")
        assert summary["best"]["number"] >= later["number"]
        while ((await rpc.call("vcoin_history", {"points": 2}))["indexedTo"] or 0) < later["number"]:
            await trio.sleep(0.2)  # the running node indexes its blocks as they come
        history = await rpc.call("vcoin_history", {"from": later["number"], "to": later["number"]})
        assert [p["hash"] for p in history["points"]] == [later["hash"]]

    run(dev_node, test)
    with pytest.raises(RpcFailure, match="WebSocket"):
        dev_node.rpc("chain_subscribeNewHeads")  # over HTTP: told where to go


def test_subscriptions_per_connection_are_bounded(dev_node: NodeProcess) -> None:
    async def test(rpc: WsRpc) -> None:
        ids = [await rpc.call("chain_subscribeNewHeads") for _ in range(MAX_SUBSCRIPTIONS)]
        assert len(set(ids)) == MAX_SUBSCRIPTIONS
        with pytest.raises(RpcError) as refused:
            await rpc.call("chain_subscribeFinalizedHeads")
        assert refused.value.code == TOO_MANY_SUBSCRIPTIONS
        assert await rpc.call("chain_unsubscribeNewHeads", ids[0]) is True
        assert isinstance(await rpc.call("chain_subscribeFinalizedHeads"), str)  # room again

    run(dev_node, test)


def test_an_oversized_message_is_an_error_and_a_huge_one_closes_only_its_socket(
    dev_node: NodeProcess,
) -> None:
    async def test(rpc: WsRpc) -> None:
        padding = "x" * MAX_BODY
        await rpc.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "system_name", "params": [padding]}))
        error = (await rpc.answer(None))["error"]
        assert error["code"] == -32600 and "larger than" in error["message"]
        assert await rpc.call("system_name") == "vcoin-node"  # the connection stays
        await rpc.send("x" * (2 * MAX_BODY + 1))  # past hypercorn's limit: closed with 1009
        with pytest.raises(ConnectionClosed) as closed:
            await rpc.answer(None)
        assert closed.value.reason is not None and closed.value.reason.code == 1009

    run(dev_node, test)
    run(dev_node, lambda rpc: _health(rpc))  # the node and its port are fine
    assert dev_node.rpc("system_name") == "vcoin-node"


async def _health(rpc: WsRpc) -> None:
    assert "bestNumber" in await rpc.call("system_health")


def test_connections_past_the_limit_are_refused(dev_node: NodeProcess) -> None:
    url = f"ws://127.0.0.1:{dev_node.rpc_port}/"

    async def main() -> None:
        with pytest.raises(ConnectionRejected) as foreign:  # a page of another site, in a browser
            async with open_websocket_url(url, extra_headers=[(b"origin", b"https://evil.example")]):
                pass
        assert foreign.value.status_code == 403
        async with open_websocket_url(url, extra_headers=[(b"origin", b"http://localhost:8080")]) as ws:
            assert await WsRpc(ws).call("system_name") == "vcoin-node"
        async with AsyncExitStack() as stack:
            clients = [
                WsRpc(await stack.enter_async_context(open_websocket_url(url)))
                for _ in range(MAX_PER_ADDRESS)  # one address's share of the slots
            ]
            assert await clients[-1].call("system_name") == "vcoin-node"
            with pytest.raises(ConnectionRejected) as refused:
                async with open_websocket_url(url):
                    pass
            assert refused.value.status_code == 503
            assert dev_node.rpc("system_name") == "vcoin-node"  # HTTP is not counted
            await stack.aclose()
        for _ in range(50):  # the server sees the closes soon after: a slot frees up
            try:
                async with open_websocket_url(url) as ws:
                    assert await WsRpc(ws).call("system_name") == "vcoin-node"
                    return
            except ConnectionRejected:
                await trio.sleep(0.1)
        raise AssertionError("no connection accepted after the others closed")

    trio.run(main)
