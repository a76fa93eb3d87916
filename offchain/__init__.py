"""Off-chain workers: the provider worker and the verifier worker."""
