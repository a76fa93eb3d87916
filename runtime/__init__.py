"""The VCoin state-transition function: pure, deterministic, no I/O.

Entry points for the node: `runtime.executive.apply_block` and
`runtime.executive.build_block`; genesis state from `runtime.genesis_state`.
"""
