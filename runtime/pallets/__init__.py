"""One module per pallet: calls, storage, events and errors together."""
