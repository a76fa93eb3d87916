"""`vcoin node`: run a full node (a validator with --validator/--dev), or,
with a subcommand (purge-chain, key, slashing-protection), work on a stopped
node's base path."""

import argparse
import errno
import getpass
import importlib
import ipaddress
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import multiaddr
import trio

from genesis.spec import load_spec
from node import node_ops
from node.block_pruning import MIN_KEEP
from node.chain import DEFAULT_STATE_CACHE_MB
from node.fd_limit import raise_fd_limit
from node.keystore import Keystore, KeystoreError, is_dev_key, resolve_key
from node.node_ops import default_base_path
from node.p2p_addresses import default_listen_hosts
from node.service import Node, NodeConfig
from node.state_pruning import DEFAULT_KEEP
from node.storage import StorageError
from offchain.models import packaged_names
from runtime.constants import UNIT
from runtime.crypto import Keypair

log = logging.getLogger("vcoin.node")
TEST_PLUGIN_ENV = "VCOIN_TEST_PLUGIN"
_AMOUNT = re.compile(r"^(\d{1,10})(?:\.(\d{1,9}))?$")


def parse_vc(text: str) -> int:
    """VCoin with up to 9 decimals -> base units; ValueError otherwise."""
    match = _AMOUNT.match(text.strip())
    if not match:
        raise ValueError(f"invalid amount {text!r}: use VCoin with up to 9 decimals, e.g. 12.5")
    whole, frac = match.group(1), (match.group(2) or "").ljust(9, "0")
    return int(whole) * UNIT + int(frac)


DEFAULT_LISTEN = "0.0.0.0"  # the IPv4 default; `::` joins it where IPv6 works (default_listen_hosts)
# A public address says where peers can dial us: an IP or DNS name, and a TCP port.
_HOST_PROTOCOLS = {"ip4", "ip6", "dns", "dns4", "dns6"}


def listen_addrs(values: list[str] | None, port: int = 0) -> list[str]:
    """--listen-addr values, checked as IPs (default: all interfaces, IPv4
    and, where [::]:port can be bound, IPv6)."""
    addrs = [value.strip("[]") for value in values or default_listen_hosts(port)]  # [::] as in URLs
    for addr in addrs:
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise ValueError(
                f"--listen-addr {addr!r} is not an IP address (e.g. 0.0.0.0, ::, 192.0.2.10)"
            ) from None
    return list(dict.fromkeys(addrs))


def public_addrs(values: list[str]) -> list[str]:
    """--public-addr values, checked as dialable multiaddrs."""
    for text in values:
        example = "e.g. /ip4/203.0.113.7/tcp/30333 or /dns4/node.example.org/tcp/30333"
        try:
            names = [p.name for p in multiaddr.Multiaddr(text).protocols()]
        except Exception as exc:  # the multiaddr package raises several unrelated types
            raise ValueError(f"--public-addr {text!r} is not a multiaddr ({exc}); {example}") from None
        if len(names) < 2 or names[0] not in _HOST_PROTOCOLS or names[1] != "tcp":
            raise ValueError(f"--public-addr {text!r} must name a host and a TCP port; {example}")
    return list(dict.fromkeys(values))


def read_password(password_file: str | None, prompt: str = "Password: ") -> str:
    if password_file:
        try:
            return Path(password_file).read_text().rstrip("\n")
        except OSError as exc:
            raise KeystoreError(f"cannot read the password file: {exc.strerror}") from None
    if not sys.stdin.isatty():
        raise KeystoreError("no terminal to ask for a password: use --password-file")
    return getpass.getpass(prompt)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-5s %(name)s  %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    logging.getLogger("hypercorn").setLevel(logging.WARNING)
    # py-libp2p logs routine churn (failed dials, queue overflow) at INFO/WARNING.
    logging.getLogger("libp2p").setLevel(logging.ERROR)


def load_test_plugin() -> str | None:
    """The test suite's one hook into a node process: when the environment
    names a module in VCOIN_TEST_PLUGIN, import it and call its `install()`
    before the node is built, and say so loudly. Unset, as everywhere but
    the test suite, it does nothing. The node itself has no test switches:
    what a test node does differently (a validator that equivocates, a
    provider that reveals made-up results) lives in that module, which
    lives under tests/ (tests/plugins/misbehave.py)."""
    name = os.environ.get(TEST_PLUGIN_ENV)
    if not name:
        return None
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ValueError(f"{TEST_PLUGIN_ENV}={name}: cannot import it ({exc})") from None
    install = getattr(module, "install", None)
    if not callable(install):
        raise ValueError(f"{TEST_PLUGIN_ENV}={name}: the module has no install() function")
    log.warning(
        "!!! TEST PLUGIN %s LOADED (%s): this node may misbehave on purpose !!!", name, TEST_PLUGIN_ENV
    )
    install()
    return name


def _node_key(args: argparse.Namespace, base_path: Path) -> Keypair | None:
    """The key that authors (--validator, --dev) and signs the worker's results."""
    name = args.key or ("//alice" if args.dev else None)
    if name is None:
        if args.validator:
            raise KeystoreError("--validator needs --key NAME (a keystore name or //dev name)")
        return None
    return resolve_key(node_keystore(args, base_path), name, lambda: read_password(args.password_file))


def check_dev_key(args: argparse.Namespace, chain_name: str, key: Keypair | None) -> None:
    """Dev seeds are public: on a chain others rely on, anyone could author
    or sign results as that key, so it takes a flag that says so."""
    name = args.key or "//alice"
    if key is None or args.dev or chain_name == "dev" or not is_dev_key(name, key):
        return
    if not args.allow_dev_keys:
        raise KeystoreError(
            f"refusing the dev key {name} on chain {chain_name!r}: its seed is public, anyone can sign "
            "with it; use a keystore key (vcoin wallet new), or --allow-dev-keys for a throw-away test net"
        )
    log.warning(
        "!!! DEV KEY %s ON CHAIN %r: its seed is public and anyone can sign with it; "
        "never do this on a chain that holds value !!!",
        name,
        chain_name,
    )


def node_keystore(args: argparse.Namespace, base_path: Path) -> Keystore:
    """--keystore, else the base path's keystore, else the wallet's default."""
    if args.keystore:
        return Keystore(Path(args.keystore))
    local = base_path / "keystore"
    return Keystore(local if local.is_dir() else Path.home() / ".vcoin" / "keystore")


def _blocks_pruning(text: str) -> int | None:
    """--blocks-pruning: `archive` or at least `MIN_KEEP` finalized blocks."""
    keep = _pruning(text)
    if keep is not None and keep < MIN_KEEP:
        raise argparse.ArgumentTypeError(
            f"keep at least {MIN_KEEP} finalized blocks' bodies (warp-syncing peers fetch the finalized one "
            "after its state)"
        )
    return keep


def _pruning(text: str) -> int | None:
    """--state-pruning, --blocks-pruning: a number of finalized blocks, or `archive`."""
    if text == "archive":
        return None
    try:
        keep = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of blocks or 'archive', not {text!r}") from None
    if keep < 1:
        raise argparse.ArgumentTypeError("keep at least 1 finalized block")
    return keep


def _packaged(names: str | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    chosen = tuple(n.strip() for n in names.split(",") if n.strip() and n.strip() != "none")
    known = set(packaged_names())
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ValueError(
            f"--packaged-models: unknown {', '.join(unknown)} (packaged: {', '.join(sorted(known))})"
        )
    return chosen


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log)
    chain_name = "dev" if args.dev and not args.chain else (args.chain or "dev")
    temp_dir = None
    try:
        listen = listen_addrs(args.listen_addr, args.port)
        public = public_addrs(args.public_addr)
        spec = load_spec(chain_name)
        if args.tmp or (args.dev and not args.base_path):
            # Like Substrate, --dev alone runs a throw-away chain.
            temp_dir = Path(tempfile.mkdtemp(prefix="vcoin-"))
            base_path = temp_dir
            log.info("Temporary data directory %s (deleted on exit; --base-path keeps a chain)", temp_dir)
        else:
            base_path = Path(args.base_path) if args.base_path else default_base_path(spec.id)
        key = _node_key(args, base_path)
        check_dev_key(args, chain_name, key)
        config = NodeConfig(
            spec=spec,
            base_path=base_path,
            dev=args.dev,
            validator_key=key if (args.dev or args.validator) else None,
            rpc_host="0.0.0.0" if args.rpc_external else "127.0.0.1",
            rpc_port=args.rpc_port,
            prometheus_host="0.0.0.0" if args.prometheus_external else "127.0.0.1",
            prometheus_port=None if args.no_prometheus else args.prometheus_port,
            p2p_port=args.port,
            max_rpc_body=args.rpc_max_request_size,
            worker=args.worker,
            bootnodes=list(args.bootnodes),
            # p2p_host serves code that knows one IPv4 address only.
            p2p_host=next((a for a in listen if ipaddress.ip_address(a).version == 4), DEFAULT_LISTEN),
            listen_addrs=listen,
            public_addrs=public,
            max_peers=args.max_peers,
            worker_key=key if args.worker else None,
            executor=args.executor,
            model_dirs=[Path(d) for d in args.model_dir],
            packaged_models=_packaged(args.packaged_models),
            worker_price=parse_vc(args.price),
            job_timeout=args.job_timeout,
            job_memory_mb=args.job_memory_mb,
            api_port=args.api_port,
            api_host="0.0.0.0" if args.api_external else "127.0.0.1",
            api_keys_dir=Path(args.api_keys) if args.api_keys else None,
            public_api_url=args.public_api_url or "",
            rendezvous_host=args.rendezvous_host,
            state_cache_mb=args.state_cache_mb,
            state_pruning=args.state_pruning,
            blocks_pruning=args.blocks_pruning,
            sync=args.sync,
        )
        if args.max_peers < 1:
            raise ValueError("--max-peers must be at least 1")
        if args.state_cache_mb < 1:
            raise ValueError("--state-cache-mb must be at least 1")
        if args.rpc_external:
            log.warning(
                "RPC listens on all interfaces: anyone who can reach port %d can use it",
                args.rpc_port,
            )
        if args.api_external:
            log.warning("the OpenAI API listens on all interfaces: keep its API keys secret")
        if args.public_api_url and not (args.worker and args.api_port):
            raise ValueError("--public-api-url needs --worker and --api-port: it is where this worker serves")
        if args.worker and key is None:
            raise KeystoreError("--worker needs --key NAME: the provider account that signs results")
        load_test_plugin()
        raise_fd_limit()
        node = Node(config)
        trio.run(node.run)
    except BaseExceptionGroup as group:  # a server task failed inside the node's nursery
        _, rest = group.split(OSError)
        first = next((e for e in _leaves(group) if isinstance(e, OSError)), None)
        if first is None or rest is not None:
            raise
        print(f"error: {_os_error(first)}", file=sys.stderr)
        return 1
    except (StorageError, KeystoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


BIND_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def _os_error(exc: OSError) -> str:
    """The cause in one line; the port hint only where binding a port failed
    (a Docker API error is an OSError too, and once blamed a port)."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text} (is another node using the port?)" if exc.errno in BIND_ERRORS else text


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("node", help="run a full node", description=__doc__)
    parser.add_argument(
        "--dev",
        action="store_true",
        help="single-validator dev chain with //alice authoring",
    )
    parser.add_argument("--chain", help="built-in chain (dev, local) or a chain spec JSON file")
    parser.add_argument(
        "--base-path", help="data directory (default ~/.vcoin/<chain>; with --dev a temporary one)"
    )
    parser.add_argument("--tmp", action="store_true", help="use a temporary data directory, deleted on exit")
    parser.add_argument("--validator", action="store_true", help="author blocks with --key")
    parser.add_argument("--key", help="validator key: a keystore name or //dev name")
    parser.add_argument(
        "--allow-dev-keys",
        action="store_true",
        help="let a //dev key (public seed) author or sign on a chain other than dev: test nets only",
    )
    parser.add_argument(
        "--keystore", help="keystore directory (default BASE/keystore, else ~/.vcoin/keystore)"
    )
    parser.add_argument("--password-file", help="file holding the keystore password")
    parser.add_argument("--rpc-port", type=int, default=9944, help="JSON-RPC port (default 9944)")
    parser.add_argument("--rpc-external", action="store_true", help="listen for RPC on all interfaces")
    parser.add_argument(
        "--rpc-max-request-size", type=int, default=1024 * 1024, help="largest RPC body in bytes"
    )
    parser.add_argument(
        "--api-port",
        type=int,
        help="serve the OpenAI-compatible API on this port (127.0.0.1; needs API keys)",
    )
    parser.add_argument("--api-external", action="store_true", help="serve the API on all interfaces")
    parser.add_argument("--api-keys", metavar="DIR", help="API key directory (default ~/.vcoin/api-keys)")
    parser.add_argument(
        "--public-api-url", metavar="URL",
        help="with --worker and --api-port: the http(s) URL of this API that users' nodes can reach, "
        "published on chain so they send session requests straight to it",
    )  # fmt: skip
    parser.add_argument(
        "--rendezvous-host", metavar="HOST", default="127.0.0.1",
        help="with --worker: the address other providers reach this one at when it leads a LoRA job spread "
        "over providers (default 127.0.0.1: this machine only)",
    )  # fmt: skip
    parser.add_argument("--prometheus-port", type=int, default=9615, help="metrics port (default 9615)")
    parser.add_argument("--prometheus-external", action="store_true", help="serve metrics on all interfaces")
    parser.add_argument("--no-prometheus", action="store_true", help="do not serve metrics")
    parser.add_argument("--port", type=int, default=30333, help="p2p port (default 30333)")
    parser.add_argument(
        "--listen-addr", action="append", metavar="IP",
        help="IP to listen on for p2p (repeatable; default 0.0.0.0 and ::, all interfaces, IPv4 alone "
        "where IPv6 is unavailable). "
        "RPC and metrics stay on 127.0.0.1",
    )  # fmt: skip
    parser.add_argument(
        "--public-addr", action="append", default=[], metavar="MULTIADDR",
        help="address to advertise to peers, e.g. /ip4/203.0.113.7/tcp/30333 (repeatable)",
    )  # fmt: skip
    parser.add_argument("--max-peers", type=int, default=25, help="most peers to keep connected (default 25)")
    parser.add_argument(
        "--state-cache-mb", type=int, default=DEFAULT_STATE_CACHE_MB, metavar="N",
        help=f"memory for cached trie nodes and state reads, MiB (default {DEFAULT_STATE_CACHE_MB})",
    )  # fmt: skip
    parser.add_argument(
        "--state-pruning", type=_pruning, default=DEFAULT_KEEP, metavar="N|archive",
        help=f"keep the state of the last N finalized blocks and delete older trie nodes, or keep "
        f"every state with 'archive' (default {DEFAULT_KEEP})",
    )  # fmt: skip
    parser.add_argument(
        "--blocks-pruning", type=_blocks_pruning, default=None, metavar="N|archive",
        help=f"keep the bodies of the last N (at least {MIN_KEEP}) finalized blocks and delete older ones (headers, "
        "justifications and the transaction index stay; peers syncing from genesis need an archive "
        "peer or --sync warp), or keep every body with 'archive' (default archive)",
    )  # fmt: skip
    parser.add_argument("--bootnodes", nargs="*", default=[], help="multiaddrs of peers to connect to")
    parser.add_argument(
        "--sync", choices=("full", "warp"), default="full",
        help="full: import every block from genesis; warp: a fresh node fetches the finalized state "
        "(proven against its header) and follows from there, backfilling headers (default full)",
    )  # fmt: skip
    parser.add_argument("--worker", action="store_true", help="run the provider worker: serve compute jobs")
    parser.add_argument(
        "--executor", default="auto", choices=["auto", "docker", "local"],
        help="where jobs run: docker (GPU container), local (sandboxed process), auto (docker if it answers)",
    )  # fmt: skip
    parser.add_argument(
        "--model-dir", action="append", default=[], help="a directory of models to serve (repeatable)"
    )
    parser.add_argument(
        "--packaged-models", metavar="NAMES",
        help="the installed packaged models to serve, comma-separated, or 'none' (default: all of them; "
        "each is loaded before the worker goes online)",
    )  # fmt: skip
    parser.add_argument(
        "--price", default="0.000001", help="asking price per work unit, in VCoin (default 0.000001)"
    )
    parser.add_argument("--job-timeout", type=float, default=900.0, help="wall-clock limit per job, seconds")
    parser.add_argument(
        "--job-memory-mb", type=int, default=None, metavar="MB",
        help="memory limit of the job sandbox (default: half of this machine's)",
    )  # fmt: skip
    parser.add_argument("--log", default="info", help="log level: debug, info, warning")
    parser.set_defaults(handler=run)
    node_ops.register(parser)
