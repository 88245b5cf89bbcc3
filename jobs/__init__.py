"""RQ jobs: thin verbs that take ids and call services. Queues are nouns.

Jobs are enqueued only after the rows they read are committed, carry ids
(never objects), serialise as JSON, and re-read their rows before acting.
"""
from __future__ import annotations

from flask import current_app
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from gateway.redis_store import get_redis

# sms: sending batches of text messages; default: everything else.
QUEUES = ("sms", "default")


def queue(name: str) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(), serializer=JSONSerializer)


def run_worker(names=QUEUES, burst: bool = False) -> bool:
    """Work the queues inside the app context, so jobs share the app's config."""
    app = current_app._get_current_object()
    worker = Worker([queue(n) for n in names], connection=get_redis(), serializer=JSONSerializer)
    with app.app_context():
        return worker.work(with_scheduler=True, burst=burst)
