"""Refuse WebSocket compression on every hypercorn server in this process.

Hypercorn offers permessage-deflate to any client that asks and has no
setting to refuse it, and wsproto inflates each read whole before hypercorn
checks the message size: 64 KiB read from the socket can become 64 MiB in
memory. The JSON-RPC answers are small, so compression buys little;
hypercorn's handshake takes its extension from its module's name, so that
name becomes an extension that always declines (the client then sends
plain frames, and a compressed frame is a protocol error that closes it).
"""

from hypercorn.protocol import ws_stream
from wsproto.extensions import PerMessageDeflate


class DeclinedDeflate(PerMessageDeflate):
    def accept(self, offer: str) -> None:
        return None  # never enabled: wsproto drops it from the connection's extensions


def refuse_compression() -> None:
    """Idempotent; fails loudly if a new hypercorn no longer looks the name up."""
    if not hasattr(ws_stream, "PerMessageDeflate"):
        raise RuntimeError("hypercorn changed how it offers permessage-deflate: review node.ws_deflate")
    ws_stream.PerMessageDeflate = DeclinedDeflate
