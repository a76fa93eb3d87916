"""Slot authoring, fork choice, finality and equivocation evidence (see issue 4)."""
