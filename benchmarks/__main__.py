"""python -m benchmarks [--quick] [--only NAME ...] [--postgres URL]"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

from benchmarks.harness import Benchmark, Options, Row, format_table


def discover() -> list[Benchmark]:
    found = []
    for module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if module.name.startswith("bench_"):
            loaded = importlib.import_module(f"benchmarks.{module.name}")
            found.append(loaded.BENCHMARK)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke check)")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("IAP_ENGINE_BENCH_POSTGRES_URL"),
        help="PostgreSQL URL for the PostgreSQL rows (default $IAP_ENGINE_BENCH_POSTGRES_URL)",
    )
    args = parser.parse_args()
    options = Options(quick=args.quick, postgres_url=args.postgres)
    rows: list[Row] = []
    for benchmark in discover():
        if args.only and benchmark.name not in args.only:
            continue
        started = time.perf_counter()
        print(f"running {benchmark.name} ...", file=sys.stderr, flush=True)
        rows.extend(benchmark.run(options))
        print(f"  {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
