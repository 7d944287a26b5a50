"""The performance harness: `python -m benchmarks` runs every benchmark and prints one table.

Each `benchmarks/bench_*.py` module defines `BENCHMARK = Benchmark(name, run)`; `run(options)`
returns rows. Figures are measured here, never asserted in tests.
"""
