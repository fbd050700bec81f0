"""Reports at scale (issue 8 target: every report over 1M requests and payments in under 1 s on
PostgreSQL, computed in SQL).

Run: .venv/bin/python bench/bench_reports.py [--requests 1000000] [--keep]
Creates its own PostgreSQL database (dropped unless --keep) and prints each report's time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import bench_app, fill_database, machine

VENV_BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--database", help="reuse an existing database URL (already filled)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    name = f"fmp_bench_reports_{os.getpid()}"
    url = args.database or f"postgresql://postgres@127.0.0.1:5432/{name}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "bench",
        "FIXMYPHONE_INSTANCE": tempfile.mkdtemp(),
    }
    try:
        if not args.database:
            subprocess.run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {name}"], check=True)
            fill_database(env, args.requests)
        app = bench_app(url)
        from fixmyphone.services import reports

        now = datetime.now(UTC)
        period = reports.Period(now - timedelta(days=3 * 366), now + timedelta(days=1))
        with app.app_context():
            print(f"machine: {machine()}; {args.requests} requests, period = 3 years")
            names = [
                n
                for n in dir(reports)
                if n
                in (
                    "revenue",
                    "revenue_by_method",
                    "requests_by_status",
                    "turnaround",
                    "repairs_per_technician",
                    "top_device_models",
                    "top_parts",
                    "first_time_fix_rate",
                )
            ]
            worst = 0.0
            for report in names:
                fn = getattr(reports, report)
                fn(period)  # warm the cache as a shop's second click would
                start = time.perf_counter()
                fn(period)
                ms = (time.perf_counter() - start) * 1000
                worst = max(worst, ms)
                print(f"  {report:<24} {ms:8.1f} ms")
            print(f"slowest report: {worst:.0f} ms (target < 1000 ms)")
    finally:
        if not args.database and not args.keep:
            subprocess.run(
                ["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]
            )


if __name__ == "__main__":
    main()
