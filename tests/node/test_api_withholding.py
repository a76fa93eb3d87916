"""The API's broker leaves a provider that withholds sampled answers: its
session is not used again and new sessions name another provider."""

from types import SimpleNamespace

import pytest
import trio

from node.api_sessions import ClientSession, SessionBroker
from offchain.serving import PUBLISH_GRACE
from runtime.constants import SESSION_PUBLISH_WINDOW, UNIT
from runtime.crypto import Keypair
from runtime.pallets import registry
from tests.chain import CHARLIE, EVE
from tests.runtime.pallets.test_session_checks import EMBED, Market


def _broker(m: Market, best: int) -> SessionBroker:
    chain = SimpleNamespace(state=m.chain.state, best=SimpleNamespace(number=best))
    return SessionBroker(SimpleNamespace(chain=chain), desks=None, keys=None)  # type: ignore[arg-type]


def test_a_withholding_provider_is_left_and_avoided(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Market(monkeypatch)
    m.chain.call(CHARLIE, "staking", "bond", amount=1_000 * UNIT)  # a second provider of the model
    m.chain.call(CHARLIE, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1_000)
    m.log.serve("one")
    assert m.settle(1) is not None
    found = m.drawn()
    began = found.publish_by - SESSION_PUBLISH_WINDOW
    model = registry.model(m.chain.state, EMBED)
    assert model is not None and EVE.public in registry.Serving.get(m.chain.state, EMBED)
    current = ClientSession(
        0, EVE.public, 1_000, 10**10, Keypair.generate(), Keypair.generate(), seq=1, units=1
    )

    async def check() -> None:
        in_time = _broker(m, began + PUBLISH_GRACE)
        assert in_time._open_on_chain(current) and in_time._named(model) == b""
        late = _broker(m, began + PUBLISH_GRACE + 1)
        assert not late._open_on_chain(current)
        assert EVE.public in late.dead
        assert late._named(model) == CHARLIE.public  # the only other one

    trio.run(check)
