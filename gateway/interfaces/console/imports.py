"""CSV uploads from the console: run the importer, keep its report (and refused rows) for download.

The report lives in Redis for a day, readable only by the person who
uploaded the file, so any web process can serve the download.
"""
from __future__ import annotations

import io
import json
import secrets
from typing import IO

from gateway.clients.importer import ImportReport, import_csv
from gateway.adapters.redis_store import get_redis

REPORT_TTL_SECONDS = 24 * 3600


def _key(report_id: str) -> str:
    return f"console:import:{report_id}"


def run(stream: IO[bytes], *, country: str, site_id: int | None, actor: str, batch_size: int,
        visible_sites: frozenset[int] | None = None) -> tuple[ImportReport, str]:
    """Import the stream; return the report and the refused rows as CSV text: each row whole, as uploaded,
    with a last ``reason`` column (corrected, the file can be uploaded again)."""
    refused = io.StringIO()
    report = import_csv(stream, default_country=country, actor=actor, site_id=site_id, batch_size=batch_size,
                        refused_csv=refused, visible_sites=visible_sites)
    return report, refused.getvalue()


def save(owner_id: int, filename: str, site_name: str | None, report: ImportReport, refused_csv: str) -> str:
    """Keep the report for a day; return its id."""
    report_id = secrets.token_urlsafe(12)
    summary = {"owner": owner_id, "filename": filename, "site": site_name, **report.to_json()}
    conn = get_redis()
    with conn.pipeline() as pipe:
        pipe.hset(_key(report_id), mapping={"summary": json.dumps(summary), "refused": refused_csv})
        pipe.expire(_key(report_id), REPORT_TTL_SECONDS)
        pipe.execute()
    return report_id


def load(report_id: str, owner_id: int) -> tuple[dict, str] | None:
    """The summary and refused-rows CSV of a report this user made, or None (gone, or someone else's)."""
    if not report_id.replace("-", "").replace("_", "").isalnum() or len(report_id) > 40:
        return None
    stored = get_redis().hgetall(_key(report_id))
    if not stored:
        return None
    summary = json.loads(stored[b"summary"])
    if summary.get("owner") != owner_id:
        return None
    return summary, stored[b"refused"].decode("utf-8")
