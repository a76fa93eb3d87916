"""The full node: block import, transaction pool, storage, networking, RPC."""
