"""Chain specs: dev, local testnet, and custom specs loaded from a file."""
