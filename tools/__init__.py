"""User tools: the `vcoin` CLI, wallet, SDK, testnet launcher and benchmarks."""
