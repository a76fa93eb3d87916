"""Benchmarks run with `vcoin bench NAME`."""
