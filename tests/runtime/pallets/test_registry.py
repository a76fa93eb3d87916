"""The registry's API addresses: a provider publishes where its node takes
session requests over HTTP; anything but a plain http(s) URL is refused."""

from runtime.pallets import registry
from tests.chain import BOB, CHARLIE, failed
from tests.runtime.pallets.test_jobs import market


def test_a_provider_publishes_and_clears_its_api_url() -> None:
    chain = market(BOB)
    assert failed(chain.call(BOB, "registry", "set_api_url", url=b"http://203.0.113.7:8000")) is None
    assert registry.api_url(chain.state, BOB.public) == "http://203.0.113.7:8000"
    assert failed(chain.call(BOB, "registry", "set_api_url", url=b"")) is None
    assert registry.api_url(chain.state, BOB.public) == ""


def test_only_providers_publish_and_only_plain_urls() -> None:
    chain = market(BOB)
    assert (
        failed(chain.call(CHARLIE, "registry", "set_api_url", url=b"http://x.example"))
        == "registry.NotProvider"
    )
    for bad in (b"ftp://x", b"http://", b"http:///path", b"http://a b", b"javascript:alert(1)", b"http://\xff",
                b"http://x/" + b"a" * 200):  # fmt: skip
        assert failed(chain.call(BOB, "registry", "set_api_url", url=bad)) is not None, bad
    assert registry.api_url(chain.state, BOB.public) == ""
