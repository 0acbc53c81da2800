"""Benchmarks: ``make bench`` (see docs/performance.md)."""
