"""A bounded, loopback-only load generator for the multi-process tests.

Several client threads each send their share of a fixed list of writes, round-robin over
the servers. Each write carries an Idempotency-Key; when a server cannot be reached or
answers 5xx, or the agreement kept changing (409 ConcurrencyConflict), the client retries
the same key (on the next server). A 201 is an acknowledgement: the client now knows
the write happened, and the test later checks that it is in the store exactly once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

MAX_REQUESTS = 2000
"""A hard bound on the requests one run may send (retries included)."""


@dataclass(frozen=True)
class Write:
    """One write to send: a path under the server, a JSON body, and its idempotency key."""

    key: str
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Ack:
    key: str
    server: str
    ref: str
    version: int
    position: int
    attempts: int


@dataclass
class LoadResult:
    acks: list[Ack] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0


def command_id(user: str, key: str) -> str:
    """The command id the API derives from a user's Idempotency-Key (see app/api/deps.py)."""
    return "http:" + hashlib.sha256(f"{user}\n{key}".encode()).hexdigest()[:32]


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        msg = f"the load generator only talks to loopback servers, not {url}"
        raise ValueError(msg)


def run_load(servers: Sequence[str], token: str, writes: Sequence[Write], *, clients: int = 4,
             max_attempts: int = 8, timeout: float = 30.0, on_ack: Callable[[int], None] | None = None) -> LoadResult:
    """Send every write once (retrying the same key as needed) from `clients` threads; returns what happened.

    `on_ack`, if given, is called with the number of acknowledgements so far after each one (a test uses it to
    kill a server part-way through the load).
    """
    for server in servers:
        check_loopback(server)
    if len(writes) * max_attempts > MAX_REQUESTS:
        msg = f"{len(writes)} writes x {max_attempts} attempts exceeds the bound of {MAX_REQUESTS} requests"
        raise ValueError(msg)
    result = LoadResult()
    lock = threading.Lock()

    def client(number: int) -> None:
        share = writes[number::clients]
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as http:
            for index, write in enumerate(share):
                if _send(http, servers, number + index, write, max_attempts, result, lock) and on_ack is not None:
                    with lock:
                        count = len(result.acks)
                    on_ack(count)

    threads = [threading.Thread(target=client, args=(n,), name=f"load-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def _send(http: httpx.Client, servers: Sequence[str], start: int, write: Write, max_attempts: int,
          result: LoadResult, lock: threading.Lock) -> bool:
    for attempt in range(max_attempts):
        server = servers[(start + attempt) % len(servers)]
        with lock:
            result.requests += 1
            result.retries += 1 if attempt else 0
        try:
            response = http.post(server + write.path, json=write.body, headers={"Idempotency-Key": write.key})
        except httpx.TransportError:
            time.sleep(0.1 * (attempt + 1))
            continue
        if response.status_code == 201:
            body = response.json()
            with lock:
                result.acks.append(Ack(write.key, server, body["ref"], body["version"], body["position"], attempt + 1))
            return True
        retryable = response.status_code >= 500 or (
            response.status_code == 409 and "kept changing" in response.text)
        if not retryable:
            with lock:
                result.refused.append((write.key, response.status_code, response.text[:300]))
            return False
        time.sleep(0.1 * (attempt + 1))
    with lock:
        result.gave_up.append(write.key)
    return False
