"""A local stand-in for DHIS2's data value import (``POST /api/dataValueSets``), for tests and trials.

It keeps the values it is sent, keyed as DHIS2 keys them (data element, period,
org unit, category option combo), and answers as DHIS2 2.40 does: a WebMessage
whose ``response`` is an ImportSummary (``status``, ``importCount`` {imported,
updated, ignored, deleted}, ``conflicts`` [{object, value, errorCode, indexes}]),
HTTP 200, or 409 when there are conflicts. A value sent again for the same key
is counted as updated, never added twice.

    python -m devtools.dhis2_server --port 8090 --username admin --password district
    DHIS2_URL=http://127.0.0.1:8090 DHIS2_USERNAME=admin DHIS2_PASSWORD=district \\
        DHIS2_MAPPING=mapping.yaml flask --app wsgi dhis2 push --period 2026-10

From Python: ``app = create_app(username=..., password=...)``, serve it with
``devtools.at_server.serve_in_thread``; ``app.extensions["dhis2_server"]`` is the
``Dhis2Server`` (``configure``, ``requests``, ``values``).

Endpoints besides DHIS2's: ``GET /_received`` (every request: the user it
authenticated as and the body), ``GET /_values``, ``POST /_control`` with a
JSON object of options (``DEFAULTS``; ``{"reset": true}`` forgets everything).
"""
from __future__ import annotations

import argparse
import base64
import copy
import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request

DEFAULTS: dict[str, Any] = {
    "username": "admin",
    "password": "district",
    "unknown_data_elements": [],  # uids answered with a conflict (E7610), their values ignored
    "unknown_org_units": [],  # uids answered with a conflict (E7612), their values ignored
    "refuse_auth": False,  # every request gets a 401, as with a wrong password
    "fail_next": 0,  # the next N requests get an HTTP 500 and store nothing
    "latency": 0.0,  # seconds every request waits (beyond the client's timeout: a timeout)
}


class Dhis2Server:
    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown options: {', '.join(sorted(unknown))}")
        self.initial = {**copy.deepcopy(DEFAULTS), **options}
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.options = copy.deepcopy(self.initial)
            self.requests: list[dict[str, Any]] = []
            self.values: dict[tuple[str, str, str, str], str] = {}

    def configure(self, **changes: Any) -> dict[str, Any]:
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown options: {', '.join(sorted(unknown))}")
        with self.lock:
            self.options.update(changes)
            return dict(self.options)

    def authenticated(self, header: str | None) -> str | None:
        """The user name when the basic auth header matches, else None."""
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if self.options["refuse_auth"] or (user, password) != (self.options["username"], self.options["password"]):
            return None
        return user

    def import_values(self, values: list[Any]) -> tuple[dict[str, int], list[dict[str, Any]]]:
        counts = {"imported": 0, "updated": 0, "ignored": 0, "deleted": 0}
        conflicts: dict[tuple[str, str], dict[str, Any]] = {}
        for index, value in enumerate(values):
            if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in
                                                      ("dataElement", "period", "orgUnit", "value")):
                counts["ignored"] += 1
                conflicts.setdefault(("value", str(index)), {
                    "object": str(index), "value": "Data value is missing a dataElement, period, orgUnit or value",
                    "errorCode": "E7600", "property": "value", "indexes": []})["indexes"].append(index)
                continue
            problem = None
            if value["dataElement"] in self.options["unknown_data_elements"]:
                problem = ("dataElement", value["dataElement"], "E7610",
                           f"Data element not found or not accessible: `{value['dataElement']}`")
            elif value["orgUnit"] in self.options["unknown_org_units"]:
                problem = ("orgUnit", value["orgUnit"], "E7612",
                           f"Organisation unit not found or not accessible: `{value['orgUnit']}`")
            if problem:
                counts["ignored"] += 1
                prop, uid, code, text = problem
                conflicts.setdefault((prop, uid), {"object": uid, "value": text, "errorCode": code,
                                                   "property": prop, "indexes": []})["indexes"].append(index)
                continue
            key = (value["dataElement"], value["period"], value["orgUnit"], value.get("categoryOptionCombo") or "")
            counts["updated" if key in self.values else "imported"] += 1
            self.values[key] = value["value"]
        return counts, list(conflicts.values())


def create_app(**options: Any) -> Flask:
    app = Flask(__name__)
    server = Dhis2Server(**options)
    app.extensions["dhis2_server"] = server

    @app.post("/api/dataValueSets")
    def data_value_sets() -> tuple[Response, int]:
        if server.options["latency"]:
            time.sleep(server.options["latency"])
        user = server.authenticated(request.headers.get("Authorization"))
        body = request.get_json(silent=True)
        with server.lock:
            server.requests.append({"user": user, "body": body, "content_type": request.content_type})
            if user is None:
                return jsonify({"httpStatus": "Unauthorized", "httpStatusCode": 401, "status": "ERROR",
                                "message": "Unauthorized"}), 401
            if server.options["fail_next"]:
                server.options["fail_next"] -= 1
                return jsonify({"httpStatus": "Internal Server Error", "httpStatusCode": 500, "status": "ERROR",
                                "message": "An unexpected error occurred"}), 500
            if not isinstance(body, dict) or not isinstance(body.get("dataValues"), list):
                return jsonify({"httpStatus": "Bad Request", "httpStatusCode": 400, "status": "ERROR",
                                "message": "Body must be a data value set with dataValues"}), 400
            counts, conflicts = server.import_values(body["dataValues"])
        status = "WARNING" if conflicts else "SUCCESS"
        summary = {"responseType": "ImportSummary", "status": status, "importOptions": {"async": False},
                   "description": "Import process completed successfully", "importCount": counts,
                   "conflicts": conflicts, "dataSetComplete": "false"}
        http = 409 if conflicts else 200
        return jsonify({"httpStatus": "Conflict" if conflicts else "OK", "httpStatusCode": http,
                        "status": "WARNING" if conflicts else "OK",
                        "message": "One more conflicts encountered, please check import summary." if conflicts
                        else "Import was successful.", "response": summary}), http

    @app.get("/_received")
    def received() -> Response:
        with server.lock:
            return jsonify(server.requests)

    @app.get("/_values")
    def values() -> Response:
        with server.lock:
            return jsonify([{"dataElement": k[0], "period": k[1], "orgUnit": k[2], "categoryOptionCombo": k[3],
                             "value": v} for k, v in sorted(server.values.items())])

    @app.post("/_control")
    def control() -> tuple[Response, int]:
        changes = request.get_json(silent=True) or {}
        if changes.pop("reset", False):
            server.reset()
        try:
            return jsonify(server.configure(**changes)), 200
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400

    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m devtools.dhis2_server``: run the stand-in in the foreground."""
    from devtools.at_server import _server

    parser = argparse.ArgumentParser(prog="python -m devtools.dhis2_server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--username", default=DEFAULTS["username"])
    parser.add_argument("--password", default=DEFAULTS["password"])
    args = parser.parse_args(argv)
    app = create_app(username=args.username, password=args.password)
    server = _server(app, args.host, args.port, quiet=False)
    print(f"Stand-in DHIS2 on http://{args.host}:{server.port} (DHIS2_URL=http://{args.host}:{server.port}); "
          "what it received at /_received, values at /_values", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
