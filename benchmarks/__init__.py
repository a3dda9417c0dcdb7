"""taskgrpc benchmarks: ``python -m benchmarks``."""
