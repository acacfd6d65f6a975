"""The machine a run was measured on: CPUs, memory, load, and the versions of Python, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata

import psycopg

from bench.postgres_writers import admin_url


def memory_total() -> str:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def postgres_version() -> str:
    try:
        with psycopg.connect(admin_url(), connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as e:
        return f"unreachable ({str(e).strip().splitlines()[0]})"
    return str(row[0]) if row else "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def description() -> dict[str, str]:
    return {
        "cpus (nproc)": str(os.cpu_count()),
        "memory": memory_total(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(),
        "eventsourcing": metadata.version("eventsourcing"),
        "load average at the end (1, 5, 15 min)": load_average(),
    }
