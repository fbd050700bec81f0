"""Helpers shared by the benchmarks: an app on a chosen database, timing, percentiles."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_app(database_url: str | None = None, **overrides):
    """An app on DATABASE_URL (or the given URL), production-like but with cheap hashes."""
    from fixmyphone import create_app
    from fixmyphone.config import Config

    url = database_url or os.environ.get("DATABASE_URL") or "sqlite:////tmp/fixmyphone-bench.db"
    settings = {"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    settings.update(overrides)
    from fixmyphone.config import normalise_database_url

    settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        settings["SQLALCHEMY_DATABASE_URI"]
    )
    return create_app(Config, **settings)


def free_port() -> int:
    """A TCP port free on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn, repeat: int = 20, warmup: int = 3) -> dict[str, float]:
    """Run ``fn`` repeatedly; return milliseconds (median, p95, min)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[max(int(len(samples) * 0.95) - 1, 0)], 2),
        "min_ms": round(samples[0], 2),
    }


def machine() -> str:
    """A one-line description of this machine for the figures."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def fill_database(env: dict, requests: int) -> None:
    """Migrate the database named by env's DATABASE_URL and fill it with ``requests`` repairs."""
    import subprocess

    flask = [str(Path(sys.executable).parent / "flask"), "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(
        [*flask, "bench-data", "--requests", str(requests)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    print(f"bench-data --requests {requests}: {time.perf_counter() - started:.1f} s")


ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def engine_for(url: str):
    """A SQLAlchemy engine on a bench database URL (psycopg 3)."""
    import sqlalchemy as sa

    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def first_row(url: str, sql: str) -> tuple:
    """The first row ``sql`` finds in the bench database at ``url`` (it must find one)."""
    import sqlalchemy as sa

    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(sa.text(sql)).first() or sys.exit(f"nothing found: {sql}"))
    finally:
        engine.dispose()


def database_arguments(parser, requests: int) -> None:
    """The options every benchmark on a filled PostgreSQL database takes."""
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--database", help="reuse an existing database URL (already filled)")
    parser.add_argument("--keep", action="store_true", help="keep the database it made")


@contextmanager
def filled_database(label: str, args, analyze: bool = False):
    """(url, env) of a PostgreSQL database filled with ``args.requests`` repairs: the one
    ``--database`` names, or a new one dropped afterwards (unless ``--keep``), also on failure."""
    import subprocess
    import tempfile

    name = f"fmp_bench_{label}_{os.getpid()}"
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
            if analyze:
                subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE"], check=True)
        yield url, env
    finally:
        if not args.database and not args.keep:
            subprocess.run(
                ["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]
            )
