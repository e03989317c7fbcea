"""Ratio/score benchmarks: ``python -m benchmarks.NAME`` prints a table."""
