"""Property: the node's real sync logic (`node.sync.BlockSync`) converges on
the longest chain a peer holds that keeps our finalized block, over random
fork trees (many branches, several peers each on its own), random byte-budget
cuts of every batch and dropped streams, and ignores a peer on a chain
without our finalized block.

The chain and the peers are models (block import is tested elsewhere, with
real blocks); what runs here is the planner: cursors, rewinds, short batches.
"""

import random
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.chain import BadBlock, BlockImportError, UnknownParent
from node.p2p import SyncAnswer
from node.peer_book import Offence
from node.sync import BlockSync


def _block(number: int, parent: bytes, tag: str) -> Any:
    digest = f"{tag}:{number}".encode().ljust(32, b".")
    return SimpleNamespace(hash=digest, header=SimpleNamespace(number=number, parent_hash=parent))


def _branch(base: list[Any], length: int, tag: str) -> list[Any]:
    chain = list(base)
    for _ in range(length):
        chain.append(_block(len(chain), chain[-1].hash, tag))
    return chain


@dataclass
class ModelChain:
    """Longest chain wins; ties keep the current best (like `node.chain`)."""

    blocks: dict[bytes, Any]
    best: Any
    finalized: Any

    def has_block(self, block_hash: bytes) -> bool:
        return block_hash in self.blocks

    def flush(self) -> None:
        pass

    def import_block(self, block: Any, vote: bool = False) -> None:
        if block.hash in self.blocks:
            raise BlockImportError("already imported")
        parent = self.blocks.get(block.header.parent_hash)
        if parent is None:
            raise UnknownParent("unknown parent")
        if block.header.number != parent.header.number + 1:
            raise BadBlock("wrong number")
        self.blocks[block.hash] = block
        if block.header.number > self.best.header.number:
            self.best = block


@dataclass
class ModelPeer:
    chain: list[Any]
    rng: random.Random
    most: int  # the most blocks its byte budget lets through in one answer
    drop: float  # the chance a stream fails
    asked: int = 0

    def answer(self, start: int, count: int) -> SyncAnswer | None:
        self.asked += 1
        if self.rng.random() < self.drop:
            return None
        cut = self.rng.randint(1, self.most)
        items = [(block, None) for block in self.chain[start : start + min(count, cut)]]
        return SyncAnswer(len(self.chain) - 1, items)  # type: ignore[arg-type]


@dataclass
class ModelNetwork:
    peers_by_id: dict[str, ModelPeer]
    punished: list[str] = field(default_factory=list)

    async def request_blocks(self, peer: str, start: int, count: int) -> SyncAnswer | None:
        await trio.sleep(0)
        return self.peers_by_id[peer].answer(start, count)

    def punish(self, peer: str, offence: Offence, reason: str) -> None:
        self.punished.append(f"{peer}: {reason}")


def _node(model: ModelChain, network: ModelNetwork) -> Any:
    type_ = type("Chain", (), {
        "best": property(lambda self: model.best.header),
        "finalized": property(lambda self: model.finalized.header),
    })  # fmt: skip
    chain = type_()
    chain.store = model
    node = SimpleNamespace(chain=chain, network=network, after_batch=lambda: None, chain_lock=trio.Lock())

    async def import_block_async(block: Any, vote: bool = True) -> None:
        await trio.sleep(0)
        model.import_block(block)

    node.import_block_async = import_block_async
    node.finality = SimpleNamespace(on_justification=lambda proof: True)
    return node


async def _sync(sync: BlockSync, peers: list[str], rounds: int) -> int:
    for used in range(1, rounds + 1):
        fetched = await sync.round(peers)
        heard = all(sync.peers.get(peer) is not None and sync.peers[peer].best >= 0 for peer in peers)
        if fetched == 0 and heard and sync.node.chain.best.number >= sync.target():
            return used
    return rounds


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    trunk=st.integers(1, 30),
    finalized_back=st.integers(0, 30),
    fork_back=st.integers(0, 30),
    ours=st.integers(0, 60),
    theirs=st.integers(0, 400),
    most=st.integers(1, 128),
    drop=st.sampled_from([0.0, 0.1, 0.3]),
    dead_fork=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_sync_converges_on_the_longest_compatible_chain(
    trunk: int, finalized_back: int, fork_back: int, ours: int, theirs: int, most: int,
    drop: float, dead_fork: bool, seed: int,
) -> None:  # fmt: skip
    genesis = _block(0, b"\x00" * 32, "genesis")
    base = _branch([genesis], trunk, "trunk")
    finalized = base[max(0, trunk - finalized_back)]
    fork_at = max(finalized.header.number, trunk - fork_back)
    our_chain = _branch(base[: fork_at + 1], ours, "ours")
    their_chain = _branch(base[: fork_at + 1], theirs, "theirs")
    model = ModelChain({b.hash: b for b in our_chain}, our_chain[-1], finalized)
    rng = random.Random(seed)
    peers = {"honest": ModelPeer(their_chain, rng, most, drop)}
    if dead_fork and finalized.header.number > 0:  # a longer chain that left ours below finality
        below = base[: finalized.header.number]
        peers["dead"] = ModelPeer(_branch(below, len(their_chain) + 50, "dead"), rng, most, drop)
    network = ModelNetwork(peers)
    sync = BlockSync(_node(model, network))
    budget = 40 + 4 * (len(their_chain) + len(our_chain))
    used = trio.run(_sync, sync, sorted(peers), budget)

    assert used < budget, "sync did not settle"
    if len(their_chain) > len(our_chain):
        assert model.best.hash == their_chain[-1].hash
    else:
        assert model.best.hash == our_chain[-1].hash  # a shorter chain never replaces ours
    assert sync.target() == max(len(their_chain), len(our_chain)) - 1  # the dead fork's height is ignored
    assert not network.punished  # honest answers, however short, cost nothing


@dataclass
class ForkTree:
    chains: list[list[Any]]  # every branch from genesis to its tip; chains[0] is the trunk
    finalized: Any  # on the trunk: a branch holds it or is dead
    ours: list[Any]  # the node's chain: a prefix of a branch that holds the finalized block
    peers: dict[str, ModelPeer]  # each on a different branch (dead ones too), its own byte budget

    def holds_finalized(self, chain: list[Any]) -> bool:
        number = self.finalized.header.number
        return len(chain) > number and bool(chain[number].hash == self.finalized.hash)


@st.composite
def fork_trees(draw: st.DrawFn) -> ForkTree:
    genesis = _block(0, b"\x00" * 32, "genesis")
    trunk = _branch([genesis], draw(st.integers(1, 20)), "trunk")
    finalized = trunk[draw(st.integers(0, len(trunk) - 1))]
    chains = [trunk]
    for index in range(draw(st.integers(1, 5))):  # each branch forks off any earlier one, anywhere
        parent = chains[draw(st.integers(0, len(chains) - 1))]
        at = draw(st.integers(0, len(parent) - 1))
        chains.append(_branch(parent[: at + 1], draw(st.integers(0, 80)), f"branch{index}"))
    tree = ForkTree(chains, finalized, [], {})
    live = [chain for chain in chains if tree.holds_finalized(chain)]
    mine = live[draw(st.integers(0, len(live) - 1))]
    tree.ours = mine[: draw(st.integers(finalized.header.number + 1, len(mine)))]
    rng = random.Random(draw(st.integers(0, 2**32)))
    branches = draw(st.lists(st.integers(0, len(chains) - 1), min_size=1, max_size=4, unique=True))
    for number, branch in enumerate(branches):
        most = draw(st.integers(1, 128))  # the blocks its byte budget lets through in one answer
        drop = draw(st.sampled_from([0.0, 0.1, 0.3]))
        tree.peers[f"peer{number}"] = ModelPeer(chains[branch], rng, most, drop)
    return tree


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=fork_trees())
def test_sync_over_a_fork_tree_ends_on_the_longest_chain_that_keeps_our_finalized_block(
    tree: ForkTree,
) -> None:
    """Several branches, several honest peers each on its own one (some on
    branches that left our finalized block), each with its own byte limit:
    sync ends on the longest chain any of them has that holds our finalized
    block (ours, when none is longer: a tie never switches)."""
    model = ModelChain({b.hash: b for b in tree.ours}, tree.ours[-1], tree.finalized)
    network = ModelNetwork(tree.peers)
    sync = BlockSync(_node(model, network))
    total = sum(len(chain) for chain in tree.chains)
    budget = 40 + 4 * total
    used = trio.run(_sync, sync, sorted(tree.peers), budget)

    assert used < budget, "sync did not settle"
    candidates = [peer.chain for peer in tree.peers.values() if tree.holds_finalized(peer.chain)]
    longest = max(len(chain) for chain in [tree.ours, *candidates])
    assert model.best.header.number == longest - 1
    if len(tree.ours) == longest:
        assert model.best.hash == tree.ours[-1].hash
    else:
        assert model.best.hash in {chain[-1].hash for chain in candidates if len(chain) == longest}
    assert sync.target() == longest - 1  # heights of chains without our finalized block are ignored
    assert not sync.syncing
    assert not network.punished  # honest answers, however short or dead, cost nothing


def test_a_peers_latest_justification_finalizes_a_node_without_vote_gossip() -> None:
    """Sync answers carry the peer's latest justification: a node whose vote
    gossip is broken still finalizes the blocks it has, even when caught up."""
    from consensus.finality import Checkpoint, Justification

    genesis = _block(0, b"\x00" * 32, "genesis")
    chain = _branch([genesis], 5, "trunk")
    model = ModelChain({b.hash: b for b in chain}, chain[-1], genesis)
    proof = Justification(Checkpoint(3, chain[3].hash), Checkpoint(4, chain[4].hash), ())
    applied: list[int] = []

    def on_justification(just: Justification) -> bool:
        applied.append(just.source.number)
        model.finalized = chain[just.source.number]
        return True

    peer = ModelPeer(chain, random.Random(1), 128, 0.0)
    peer.answer = lambda start, count: SyncAnswer(5, [], proof.encode())  # type: ignore[method-assign]
    node = _node(model, ModelNetwork({"peer": peer}))
    node.finality = SimpleNamespace(on_justification=on_justification)
    sync = BlockSync(node)
    trio.run(sync.round, ["peer"])
    assert applied == [3] and model.finalized is chain[3]
    trio.run(sync.round, ["peer"])
    assert applied == [3]  # already final: not applied again
