"""Benchmarks that print figures (never timed tests): `python -m bench`, `python -m bench.soak`."""
