"""Which addresses the node listens on and which it tells others.

A wildcard listen address (0.0.0.0, ::) is what a socket binds, never what
a peer can dial: it is advertised as the machine's interface addresses,
non-loopback first, and `--public-addr` addresses (a NAT's outside
address, a DNS name) go before all of them. Addresses other peers observed
us at (identify) are added after those.
"""

import ipaddress
import logging
import socket
from collections.abc import Sequence

import multiaddr
import psutil

log = logging.getLogger("vcoin.p2p")
WILDCARDS = {"0.0.0.0", "::"}
ALL_IPV4, ALL_IPV6 = "0.0.0.0", "::"


def default_listen_hosts(port: int) -> list[str]:
    """All interfaces, IPv4 and IPv6; IPv4 alone (told once) where `::` on
    this port cannot be bound: no IPv6 on the machine, or the port taken
    there. The two listeners share the port without colliding: py-libp2p
    binds both with SO_REUSEADDR and SO_REUSEPORT, and an IPv4 peer that
    the dual-stack `::` listener accepts has its address normalized from
    the IPv4-mapped form (`node.p2p._remote_ip`)."""
    problem = ipv6_bind_problem(port)
    if problem is None:
        return [ALL_IPV4, ALL_IPV6]
    log.info("p2p listens on IPv4 only: cannot listen on [::]:%d (%s)", port, problem)
    return [ALL_IPV4]


def ipv6_bind_problem(port: int) -> str | None:
    """Why a TCP socket cannot bind [::]:port, or None when it can."""
    if not socket.has_ipv6:
        return "no IPv6 support"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            # IPv6 alone: whether IPv4's port is free is the IPv4 listener's business
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((ALL_IPV6, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def listen_multiaddr(host: str, port: int) -> multiaddr.Multiaddr:
    """The TCP multiaddr for an IP to listen on; ValueError for anything else."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"--listen-addr {host!r} is not an IPv4 or IPv6 address") from None
    family = "ip4" if ip.version == 4 else "ip6"
    return multiaddr.Multiaddr(f"/{family}/{ip}/tcp/{port}")


def interface_ips(version: int) -> list[str]:
    """This machine's addresses of one IP version, non-loopback first."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    try:
        interfaces = psutil.net_if_addrs()
    except Exception:
        interfaces = {}
    for addresses in interfaces.values():
        for entry in addresses:
            try:
                ip = ipaddress.ip_address(entry.address.split("%")[0])
            except ValueError:
                continue
            if ip.version == version and not ip.is_link_local and ip not in found:
                found.append(ip)
    if not found:
        found.append(ipaddress.ip_address("127.0.0.1" if version == 4 else "::1"))
    found.sort(key=lambda ip: ip.is_loopback)
    return [str(ip) for ip in found]


def expand(candidates: Sequence[multiaddr.Multiaddr]) -> list[multiaddr.Multiaddr]:
    """Listen addresses with every wildcard replaced by the interface addresses."""
    result: list[multiaddr.Multiaddr] = []
    for address in candidates:
        family, host, rest = _split(address)
        if host in WILDCARDS:
            for ip in interface_ips(4 if family == "ip4" else 6):
                result.append(multiaddr.Multiaddr(f"/{family}/{ip}{rest}"))
        else:
            result.append(address)
    return _unique(result)


def advertised(
    public: Sequence[multiaddr.Multiaddr], candidates: Sequence[multiaddr.Multiaddr]
) -> list[multiaddr.Multiaddr]:
    """What identify and `system_localListenAddresses` report: public
    addresses first, then listen and observed ones, never a wildcard."""
    return _unique([*public, *expand(candidates)])


def parse_public(addresses: Sequence[str]) -> list[multiaddr.Multiaddr]:
    """`--public-addr` values as multiaddrs without a /p2p part (ours is appended)."""
    parsed = []
    for text in addresses:
        try:
            address = multiaddr.Multiaddr(text)
        except Exception as exc:
            raise ValueError(f"--public-addr {text!r} is not a multiaddr: {exc}") from None
        if "/p2p/" in str(address):
            address = multiaddr.Multiaddr(str(address).split("/p2p/")[0])
        if _split(address)[1] in WILDCARDS:
            raise ValueError(f"--public-addr {text!r}: a wildcard address cannot be dialed")
        parsed.append(address)
    return parsed


def _split(address: multiaddr.Multiaddr) -> tuple[str | None, str | None, str]:
    parts = str(address).split("/")
    if len(parts) >= 3 and parts[1] in ("ip4", "ip6"):
        return parts[1], parts[2], "/" + "/".join(parts[3:]) if len(parts) > 3 else ""
    return None, None, str(address)


def _unique(addresses: list[multiaddr.Multiaddr]) -> list[multiaddr.Multiaddr]:
    seen: set[str] = set()
    result = []
    for address in addresses:
        if str(address) not in seen:
            seen.add(str(address))
            result.append(address)
    return result
