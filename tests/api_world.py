"""A world for the API and web tests: a real database with the demo loaded, four users, and the app on top."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from app.api import create_app
from app.api.backend import Backend
from app.demo import load_demo
from app.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    app: FastAPI
    backend: Backend
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        """Headers for a user: 'admin', 'auditor', 'oncf' (official of ONCF), 'msps' (official of MSPS); else none."""
        token = self.tokens.get(who)
        if who == "bad":
            return {"Authorization": "Bearer ct_not-a-real-token"}
        return {"Authorization": f"Bearer {token}"} if token else {}


USERS = {"admin": ("admin", None), "auditor": ("auditor", None), "oncf": ("official", "ONCF"),
         "msps": ("official", "MSPS")}


@contextmanager
def world(database_url: str, **settings: object) -> Iterator[World]:
    config = Settings(database_url=database_url, **settings)  # type: ignore[arg-type]
    backend = Backend.build(config)
    try:
        load_demo(backend.service)
        tokens = {name: backend.users.add(name, role, org)[1] for name, (role, org) in USERS.items()}
        yield World(create_app(config, backend=backend), backend, tokens)
    finally:
        backend.close()
