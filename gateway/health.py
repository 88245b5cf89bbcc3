"""``GET /healthz``: is the database reachable, is Redis reachable, how many RQ workers are registered."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from gateway.adapters.database import db
from gateway.adapters.redis_store import get_redis

bp = Blueprint("health", __name__)


def _check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception as exc:  # any failure of the dependency is the answer, not a crash
        return f"error: {type(exc).__name__}"


@bp.get("/healthz")
def healthz():
    def database():
        db.session.execute(text("SELECT 1"))
        db.session.rollback()

    checks = {"database": _check(database), "redis": _check(lambda: get_redis().ping())}
    healthy = all(v == "ok" for v in checks.values())
    workers = None
    if checks["redis"] == "ok":
        from rq import Worker

        workers = Worker.count(connection=get_redis())
    body = {"status": "ok" if healthy else "degraded", **checks, "workers": workers}
    return jsonify(body), 200 if healthy else 503
