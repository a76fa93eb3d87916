"""What an operator sees: advertised addresses are dialable (never a
wildcard; --public-addr first), bootnode failures are told once each with
the reason, and library log lines are one line each, rate-limited."""

import logging
import os
from pathlib import Path
from typing import Any

import multiaddr
import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from node.bootnodes import BootnodeDialer, parse_bootnodes
from node.library_logs import LibraryLogFilter
from node.p2p import Network
from node.p2p_addresses import advertised, listen_multiaddr, parse_public
from tools.testnet import free_port

GENESIS = bytes(range(32))


def test_wildcards_are_advertised_as_interface_addresses_public_first() -> None:
    listen = [listen_multiaddr("0.0.0.0", 30333), listen_multiaddr("::", 30333)]
    other = ID.from_pubkey(create_new_key_pair(os.urandom(32)).public_key)
    public = parse_public(["/dns4/node.example.org/tcp/30333", f"/ip4/203.0.113.7/tcp/30333/p2p/{other}"])
    shown = [str(a) for a in advertised(public, listen)]
    assert shown[:2] == ["/dns4/node.example.org/tcp/30333", "/ip4/203.0.113.7/tcp/30333"]
    assert not any("/0.0.0.0/" in a or "/ip6/::/" in a for a in shown)
    assert "/ip4/127.0.0.1/tcp/30333" in shown and "/ip6/::1/tcp/30333" in shown
    assert shown.index("/ip4/127.0.0.1/tcp/30333") == max(i for i, a in enumerate(shown) if "/ip4/" in a)


@pytest.mark.parametrize("bad", ["localhost", "300.1.1.1", ""])
def test_listen_addresses_must_be_ip_addresses(bad: str) -> None:
    with pytest.raises(ValueError, match="--listen-addr"):
        listen_multiaddr(bad, 1)


def test_public_addresses_are_checked() -> None:
    with pytest.raises(ValueError, match="--public-addr"):
        parse_public(["not a multiaddr"])
    with pytest.raises(ValueError, match="wildcard"):
        parse_public(["/ip4/0.0.0.0/tcp/1"])


def test_a_node_on_all_interfaces_reports_dialable_addresses(tmp_path: Path) -> None:
    async def main() -> list[str]:
        network = Network(tmp_path, GENESIS, ["0.0.0.0", "::"], free_port(), [], lambda s, c: (0, [], None))
        async with network.running():
            return network.addresses()

    shown = trio.run(main)
    assert shown and all("/p2p/" in a for a in shown)
    assert not any("/ip4/0.0.0.0/" in a or "/ip6/::/" in a for a in shown)
    assert any(a.startswith("/ip6/") for a in shown)


def test_bootnode_failures_are_told_once_each_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = Network(tmp_path / "target", GENESIS, ["127.0.0.1"], free_port(), [], lambda s, c: (0, [], None))
    stranger = ID.from_pubkey(create_new_key_pair(os.urandom(32)).public_key)
    port = target.listen[0].value_for_protocol("tcp")
    wrong_id = f"/ip4/127.0.0.1/tcp/{port}/p2p/{stranger}"
    closed_port = f"/ip4/127.0.0.1/tcp/{free_port()}/p2p/{target.peer_id}"
    caplog.set_level(logging.INFO, logger="vcoin.p2p")
    dialer_node = Network(
        tmp_path / "dialer", GENESIS, ["127.0.0.1"], free_port(), [wrong_id, closed_port, "/ip4/1.2.3.4/tcp/x"],
        lambda s, c: (0, [], None),
    )  # fmt: skip
    assert sum("malformed" in r.message for r in caplog.records) == 1

    async def main() -> None:
        async with target.running(), dialer_node.running():
            for _ in range(3):  # retries do not repeat a reason already told
                for node in dialer_node.dialer.nodes:
                    node.retry_at = 0.0
                await dialer_node.connect_bootnodes()

    trio.run(main)
    told = [r.message for r in caplog.records if "bootnode" in r.message]
    assert sum("wrong peer id" in m for m in told) == 1, told
    assert sum("nothing accepts connections" in m or "no answer" in m for m in told) == 1, told
    assert sum("malformed" in m for m in told) == 1, told


def test_a_bootnode_that_comes_up_later_is_connected_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vcoin.p2p")
    port = free_port()
    target = Network(tmp_path / "target", GENESIS, ["127.0.0.1"], port, [], lambda s, c: (0, [], None))
    address = f"/ip4/127.0.0.1/tcp/{port}/p2p/{target.peer_id}"
    dialer = Network(
        tmp_path / "dialer", GENESIS, ["127.0.0.1"], free_port(), [address], lambda s, c: (0, [], None)
    )

    async def main() -> None:
        async with dialer.running():
            await dialer.connect_bootnodes()  # nobody there yet
            async with target.running():
                with trio.fail_after(60):
                    while not dialer.peers():
                        dialer.dialer.nodes[0].retry_at = 0.0  # skip the backoff, not the library's cache
                        await dialer.connect_bootnodes()
                        await trio.sleep(0.2)

    trio.run(main)
    assert any("connected to bootnode" in r.message for r in caplog.records)


def test_library_lines_are_single_lines_and_rate_limited() -> None:
    clock = [0.0]
    found = LibraryLogFilter(lambda: clock[0])
    try:
        raise KeyError("peer gone")
    except KeyError:
        import sys

        record = logging.LogRecord("libp2p.pubsub", logging.ERROR, "x", 1, "teardown failed for %s", ("p",),
                                   sys.exc_info())  # fmt: skip
    assert found.filter(record)
    assert record.exc_info is None and "KeyError" in record.getMessage() and "\n" not in record.getMessage()
    again = logging.LogRecord("libp2p.pubsub", logging.ERROR, "x", 1, "teardown failed for %s", ("q",), None)
    assert not found.filter(again)  # the same message within a minute
    clock[0] = 61.0
    assert found.filter(again)
    own = logging.LogRecord("vcoin.node", logging.INFO, "x", 1, "Imported #1", None, None)
    assert found.filter(own) and found.filter(own)  # the node's own lines are never limited


def test_parse_bootnodes_keeps_the_good_ones() -> None:
    good = f"/ip4/127.0.0.1/tcp/1/p2p/{ID.from_pubkey(create_new_key_pair(os.urandom(32)).public_key)}"
    assert [b.address for b in parse_bootnodes([good, "/ip4/1.2.3.4"])] == [good]
    assert BootnodeDialer([good]).nodes[0].state == "new"
    assert multiaddr.Multiaddr(good)


def test_library_chatter_below_warning_stays_out() -> None:
    chatter = logging.LogRecord("libp2p.network.auto_connector", logging.INFO, "x", 1, "dialing", None, None)
    assert not LibraryLogFilter().filter(chatter)


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")


async def _dial(dialer: Network, address: str) -> Any:
    from libp2p.peer.peerinfo import info_from_p2p_addr

    info = info_from_p2p_addr(multiaddr.Multiaddr(address))
    with trio.fail_after(30):
        while info.peer_id not in dialer.host.get_connected_peers():
            try:
                await dialer.host.connect(info)
            except Exception:
                await trio.sleep(0.2)
    return info.peer_id


@needs_ipv6
def test_an_ipv6_peer_has_an_address_to_be_banned_by(tmp_path: Path) -> None:
    """py-libp2p's own `get_remote_address` gives None for an IPv6 peer (a
    4-tuple): such a peer could never be blocked by address."""

    async def main() -> None:
        a = Network(tmp_path / "a", GENESIS, ["::1"], free_port(), [], lambda s, c: (0, [], None))
        b = Network(tmp_path / "b", GENESIS, ["::1"], free_port(), [], lambda s, c: (0, [], None))
        async with a.running(), b.running():
            assert a.addresses()[0].startswith("/ip6/::1/tcp/")
            await _dial(b, a.addresses()[0])
            with trio.fail_after(30):
                while b.host.get_id() not in a.host.get_connected_peers():
                    await trio.sleep(0.05)
            assert a.address_of(b.host.get_id()) == "::1"
            assert b.address_of(a.host.get_id()) == "::1"

    trio.run(main)


@needs_ipv6
def test_by_default_p2p_listens_on_every_ipv4_and_ipv6_interface(tmp_path: Path) -> None:
    from node.cli import listen_addrs

    port = free_port()
    hosts = listen_addrs(None, port)
    assert hosts == ["0.0.0.0", "::"]

    async def main() -> None:
        node = Network(tmp_path / "node", GENESIS, hosts, port, [], lambda s, c: (0, [], None))
        v4 = Network(tmp_path / "v4", GENESIS, ["127.0.0.1"], free_port(), [], lambda s, c: (0, [], None))
        v6 = Network(tmp_path / "v6", GENESIS, ["::1"], free_port(), [], lambda s, c: (0, [], None))
        async with node.running(), v4.running(), v6.running():  # two listeners, one port: no collision
            shown = node.addresses()
            assert not any("/ip4/0.0.0.0/" in a or "/ip6/::/" in a for a in shown)
            assert f"/ip4/127.0.0.1/tcp/{port}/p2p/{node.peer_id}" in shown
            assert f"/ip6/::1/tcp/{port}/p2p/{node.peer_id}" in shown
            await _dial(v4, f"/ip4/127.0.0.1/tcp/{port}/p2p/{node.peer_id}")
            await _dial(v6, f"/ip6/::1/tcp/{port}/p2p/{node.peer_id}")
            with trio.fail_after(30):
                while len(node.peers()) < 2:
                    await trio.sleep(0.05)
            # an IPv4 peer is told as IPv4 whichever listener took it (never ::ffff:127.0.0.1)
            assert node.address_of(v4.host.get_id()) == "127.0.0.1"
            assert node.address_of(v6.host.get_id()) == "::1"

    trio.run(main)


@needs_ipv6
def test_where_ipv6_cannot_be_bound_p2p_listens_on_ipv4_alone_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    from node.cli import listen_addrs

    caplog.set_level(logging.INFO, logger="vcoin.p2p")
    port = free_port()
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as taken:
        taken.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        taken.bind(("::", port))
        taken.listen(1)
        hosts = listen_addrs(None, port)
        assert hosts == ["0.0.0.0"]
        told = [r.getMessage() for r in caplog.records if "IPv4 only" in r.getMessage()]
        assert len(told) == 1 and f"[::]:{port}" in told[0]

        async def main() -> list[str]:
            node = Network(tmp_path, GENESIS, hosts, port, [], lambda s, c: (0, [], None))
            async with node.running():
                return node.addresses()

        shown = trio.run(main)
    assert shown and all(a.startswith("/ip4/") and "/ip4/0.0.0.0/" not in a for a in shown)
    assert listen_addrs(["[::]", "0.0.0.0"], port) == ["::", "0.0.0.0"]  # explicit ones are kept as given
