"""A local stand-in for Africa's Talking's SMS and application APIs, for tests, benchmarks and development.

It speaks AT's wire format (docs/africastalking.md) so the real ``africastalking``
SDK can be pointed at it with ``AT_API_URL``::

    python -m devtools.at_server --port 8089 --api-key KEY --delivery-url URL
    AT_API_URL=http://127.0.0.1:8089 AT_USERNAME=sandbox AT_API_KEY=KEY flask --app wsgi reminders send-due

From Python (tests, benchmarks)::

    app = create_app(api_key="k", statuses={"+25470000": 406})
    base_url, stop = serve_in_thread(app)
    server = app.extensions["at_server"]     # the ATServer: configure(), sent, duplicates() ...
    ...
    stop()

Behaviour is set at creation (``create_app(**options)``, see ``DEFAULTS``) and
changed at runtime with ``ATServer.configure`` or ``POST /_control``.
Endpoints:

- ``POST /version1/messaging``: AT's send-SMS call.
- ``GET /version1/user?username=...``: AT's application data, the account's
  balance (``{"UserData": {"balance": "KES 1234.00"}}``), which falls by the
  cost of every SMS accepted.
- ``GET /_control``: the options now. ``POST /_control`` with a JSON object of
  options changes them (``{"reset": true}`` first restores the creation
  options and forgets what was sent).
- ``GET /_sent``: ``{"requests", "count", "duplicates", "messages"}``;
  ``?messages=0`` leaves the list out, ``?number=+254...`` filters it.
  ``DELETE /_sent`` forgets it.
- ``GET /_deliveries``: the delivery reports posted so far and the receiver's answers.
- ``POST /_deliver``: JSON ``{"id", "status", "failureReason"?}`` posts one
  report now for a message this server accepted.

Dropping a connection: the view shuts the client's socket down (werkzeug's
dev server puts it in ``environ["werkzeug.socket"]``) and raises
``ConnectionAbortedError``. Flask passes it through (``PROPAGATE_EXCEPTIONS``)
and werkzeug treats a ``ConnectionError`` as a connection the client closed:
it writes nothing more and logs nothing. The client sees the connection close
with no reply (``requests.ConnectionError``, "Remote end closed connection").
"""
from __future__ import annotations

import argparse
import copy
import heapq
import itertools
import json
import logging
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any, Callable

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "test-api-key"

DEFAULTS: dict[str, Any] = {
    "api_key": DEFAULT_API_KEY,  # the apiKey header expected; None accepts any
    "username": None,  # the username expected; None accepts any
    # Per-recipient statusCode by number, or by number prefix (the longest wins): {"+2547000": 406}.
    # Numbers not listed get 101 Success (403 if malformed).
    "statuses": {},
    "refusal": None,  # a reason: every request gets a 201 with no recipients and this Message
    "fail_next": 0,  # the next N requests get HTTP 500
    "drop_next": 0,  # the next N requests get their connection closed with no reply
    "latency": 0.0,  # seconds every request waits before it is answered
    "hang": 0.0,  # seconds every request waits before its connection is dropped (> the client's read timeout)
    "content_type": "application/json",  # exactly this, as AT: the SDK parses JSON only then
    # A body sent instead of AT's JSON (HTTP 200, with content_type), e.g. a proxy's HTML page.
    "raw_body": None,
    "cost": "0.8000",  # per SMS page
    "currency": "KES",
    "balance": "1234.00",  # the account's balance before any SMS, in currency; GET /version1/user shows what is left
    "delivery_url": None,  # where delivery reports are posted (form-encoded, AT's field names)
    # Final delivery status by number or prefix: "Success" (the default), "Failed:DeliveryFailure",
    # "Rejected:UserInBlackList", "Expired" ... (status, then failureReason after a colon).
    "delivery_statuses": {},
    "delivery_interim": [],  # statuses posted before the final one, e.g. ["Submitted", "Buffered"]
    "delivery_delay": 0.0,  # seconds between acceptance and the first report
    "delivery_duplicates": 0,  # extra copies of every report
    "delivery_out_of_order": False,  # final report first, and messages shuffled
    "delivery_workers": 1,  # threads posting reports; more than 1 gives up ordering
    "network_code": "99999",  # AT's sandbox network
}

STATUS_NAMES = {
    100: "Processed", 101: "Success", 102: "Queued", 401: "RiskHold", 402: "InvalidSenderId",
    403: "InvalidPhoneNumber", 404: "UnsupportedNumberType", 405: "InsufficientBalance",
    406: "UserInBlacklist", 407: "CouldNotRoute", 409: "DoNotDisturbRejection",
    500: "InternalServerError", 501: "GatewayError", 502: "RejectedByGateway",
}
ACCEPTED = {100, 101, 102}
_NUMBER = re.compile(r"\+\d{7,15}")
_GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")
_AUTH_FAILED = "The supplied authentication is invalid"


def _pages(text: str) -> int:
    """SMS pages for a text: 160/153 GSM-7 characters, 70/67 otherwise (AT charges per page)."""
    single, multi = (160, 153) if set(text) <= _GSM_BASIC else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // multi)


def _by_prefix(table: dict[str, Any], number: str) -> Any:
    """The value for ``number`` in a table keyed by numbers or prefixes; the longest key wins."""
    if number in table:
        return table[number]
    best = max((key for key in table if number.startswith(key)), key=len, default=None)
    return None if best is None else table[best]


def _coerce(name: str, value: Any) -> Any:
    """Check and convert one option's value; ValueError with the option's name if it is wrong."""
    default = DEFAULTS[name]
    try:
        if name == "statuses":
            return {str(k): int(v) for k, v in dict(value).items()}
        if name == "delivery_statuses":
            return {str(k): str(v) for k, v in dict(value).items()}
        if name == "delivery_interim":
            return [str(v) for v in value]
        if name in ("cost", "balance"):
            return str(Decimal(str(value)))
        if default is None:
            return None if value is None else str(value)
        if isinstance(default, bool):
            return bool(value)
        if isinstance(default, int):
            return max(int(value), 0)
        if isinstance(default, float):
            return max(float(value), 0.0)
        return str(value)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ValueError(f"option {name}: {exc!r}") from None


class ATServer:
    """The fake AT's state: options, what it accepted, and its delivery-report poster. Thread-safe."""

    def __init__(self, **options: Any) -> None:
        self._initial = self._checked(options)
        self.options = {**copy.deepcopy(DEFAULTS), **self._initial}
        self.sent: list[dict[str, Any]] = []  # accepted recipients, in order
        self.deliveries: list[dict[str, Any]] = []  # reports posted, with the receiver's answer
        self.requests = 0  # POSTs to /version1/messaging
        self.spent = Decimal(0)  # cost of the SMS accepted, taken off the balance
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._by_id: dict[str, dict[str, Any]] = {}
        self._queue: list[tuple[float, int, str, dict[str, str]]] = []  # (due, seq, url, form) heap
        self._seq = itertools.count()
        self._ready = threading.Condition(self._lock)
        self._posted = threading.Condition(threading.Lock())
        self._workers: list[threading.Thread] = []

    @staticmethod
    def _checked(options: dict[str, Any]) -> dict[str, Any]:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return {name: _coerce(name, value) for name, value in options.items()}

    # --- control ------------------------------------------------------------------------------

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change options (ValueError for unknown ones); returns them all."""
        checked = self._checked(changes)
        with self._lock:
            self.options.update(checked)
            return copy.deepcopy(self.options)

    def reset(self) -> None:
        """Back to the creation options; forget what was sent and posted."""
        with self._lock:
            self.options = {**copy.deepcopy(DEFAULTS), **copy.deepcopy(self._initial)}
            self.sent, self.deliveries, self.requests = [], [], 0
            self.spent = Decimal(0)
            self._by_id.clear()
            self._queue.clear()

    def snapshot(self) -> dict[str, Any]:
        """The options now (a copy: a request acts on one consistent set)."""
        with self._lock:
            return copy.deepcopy(self.options)

    def take(self, counter: str) -> bool:
        """Use up one of ``fail_next`` / ``drop_next``; True if there was one."""
        with self._lock:
            if self.options[counter] > 0:
                self.options[counter] -= 1
                return True
            return False

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(number, message) pairs accepted more than once, with how many times."""
        with self._lock:
            counts = Counter((r["number"], r["message"]) for r in self.sent)
        return {pair: n for pair, n in counts.items() if n > 1}

    def close(self) -> None:
        """Release hanging requests and stop the report posters (pending reports are dropped)."""
        self.stopping.set()
        with self._ready:
            self._ready.notify_all()
        for worker in self._workers:
            worker.join(timeout=5)

    # --- sending ------------------------------------------------------------------------------

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def accept(self, records: list[dict[str, Any]], options: dict[str, Any], cost: Decimal = Decimal(0)) -> None:
        """Remember accepted recipients, charge their ``cost``, and queue their delivery reports."""
        with self._lock:
            self.spent += cost
            self.sent.extend(records)
            for record in records:
                self._by_id[record["messageId"]] = record
        if options["delivery_url"]:
            self._queue_reports(records, options)

    def _final_status(self, number: str, options: dict[str, Any]) -> tuple[str, str | None]:
        status = _by_prefix(options["delivery_statuses"], number) or "Success"
        name, _, reason = status.partition(":")
        if not reason and name in ("Failed", "Rejected"):
            reason = "DeliveryFailure"
        return name, reason or None

    def _queue_reports(self, records: list[dict[str, Any]], options: dict[str, Any]) -> None:
        per_message = []
        for record in records:
            final, reason = self._final_status(record["number"], options)
            steps = [(status, None) for status in options["delivery_interim"]] + [(final, reason)]
            if options["delivery_out_of_order"]:
                steps.reverse()
            per_message.append([self._report(record, status, why, options) for status, why in steps])
        if options["delivery_out_of_order"]:
            random.shuffle(per_message)
        due = time.monotonic() + options["delivery_delay"]
        copies = 1 + options["delivery_duplicates"]
        with self._ready:
            for reports in per_message:
                for form in reports:
                    for _ in range(copies):
                        heapq.heappush(self._queue, (due, next(self._seq), options["delivery_url"], form))
            self._start_workers(options["delivery_workers"])
            self._ready.notify_all()

    def post_report(self, message_id: str, status: str, failure_reason: str | None = None) -> bool:
        """Queue one report now for a message this server accepted; False if the id is unknown."""
        options = self.snapshot()
        with self._lock:
            record = self._by_id.get(message_id)
        if record is None or not options["delivery_url"]:
            return False
        with self._ready:
            heapq.heappush(self._queue, (time.monotonic(), next(self._seq), options["delivery_url"],
                                         self._report(record, status, failure_reason, options)))
            self._start_workers(options["delivery_workers"])
            self._ready.notify_all()
        return True

    @staticmethod
    def _report(record: dict[str, Any], status: str, reason: str | None, options: dict[str, Any]) -> dict[str, str]:
        form = {"id": record["messageId"], "status": status, "phoneNumber": record["number"],
                "networkCode": options["network_code"], "retryCount": "0"}
        if reason:
            form["failureReason"] = reason
        return form

    def _start_workers(self, wanted: int) -> None:
        # Called with the lock held; threads start on the first report so an idle server costs nothing.
        self._workers = [w for w in self._workers if w.is_alive()]
        while len(self._workers) < max(wanted, 1) and not self.stopping.is_set():
            worker = threading.Thread(target=self._post_reports, daemon=True, name="at-server-dlr")
            self._workers.append(worker)
            worker.start()

    def balance(self, options: dict[str, Any]) -> str:
        """The balance as AT writes it: ``"KES 1233.20"`` (the starting balance less what was spent)."""
        with self._lock:
            left = Decimal(options["balance"]) - self.spent
        return f"{options['currency']} {left:.2f}"

    def _post_reports(self) -> None:
        session = requests.Session()
        while True:
            with self._ready:
                while not self.stopping.is_set():
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        _, _, url, form = heapq.heappop(self._queue)
                        break
                    self._ready.wait(timeout=(self._queue[0][0] - now) if self._queue else None)
                else:
                    return
            entry: dict[str, Any] = {**form, "url": url}
            try:
                entry["http_status"] = session.post(url, data=form, timeout=10).status_code
            except requests.RequestException as exc:
                entry["error"] = type(exc).__name__
            with self._posted:
                self.deliveries.append(entry)
                self._posted.notify_all()

    def wait_for_deliveries(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` reports have been posted; False on timeout."""
        with self._posted:
            return self._posted.wait_for(lambda: len(self.deliveries) >= count, timeout=timeout)


# --- the HTTP app -------------------------------------------------------------------------------

def _drop_connection() -> None:
    """Close the client's connection without a reply (see the module docstring)."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionAbortedError("connection dropped on purpose")


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/plain")


def create_app(**options: Any) -> Flask:
    """A Flask app playing AT's SMS and application APIs; ``options`` as in ``DEFAULTS`` (ValueError for unknown ones)."""
    server = ATServer(**options)
    app = Flask(__name__)
    # Exceptions (the deliberate ConnectionAbortedError) go to werkzeug, which drops the connection quietly.
    app.config["PROPAGATE_EXCEPTIONS"] = True
    app.extensions["at_server"] = server

    def refused(opts: dict[str, Any], username: str | None) -> Response | None:
        """A wrong apiKey or an unknown username: HTTP 401 in plain text, the same for both, as AT answers."""
        if opts["api_key"] is not None and request.headers.get("apiKey") != opts["api_key"]:
            return _text(_AUTH_FAILED, 401)
        if opts["username"] is not None and username != opts["username"]:
            return _text(_AUTH_FAILED, 401)
        return None

    def faulty(opts: dict[str, Any]) -> Response | None:
        """The faults the options ask for (latency, hang, drop_next, fail_next, raw_body), else None."""
        if opts["latency"]:
            server.stopping.wait(opts["latency"])
        if opts["hang"]:
            server.stopping.wait(opts["hang"])
            _drop_connection()
        if server.take("drop_next"):
            _drop_connection()
        if server.take("fail_next"):
            return _text("Internal Server Error", 500)
        if opts["raw_body"] is not None:
            return Response(opts["raw_body"], status=200, content_type=opts["content_type"])
        return None

    @app.post("/version1/messaging")
    def messaging() -> Response:
        server._count_request()
        opts = server.snapshot()
        form = request.form
        answer = refused(opts, form.get("username"))
        if answer is not None:
            return answer
        for name in ("username", "to", "message"):
            if not form.get(name):
                return _text(f"Request is missing required form field '{name}'", 400)
        answer = faulty(opts)
        if answer is not None:
            return answer
        if opts["refusal"]:
            body = {"SMSMessageData": {"Message": opts["refusal"], "Recipients": []}}
            return Response(json.dumps(body), status=201, content_type=opts["content_type"])

        message, sender = form["message"], form.get("from")
        unit = Decimal(opts["cost"]) * _pages(message)
        total, recipients, accepted = Decimal(0), [], []
        numbers = [n.strip() for n in form["to"].split(",") if n.strip()]
        for number in numbers:
            code = _by_prefix(opts["statuses"], number) if _NUMBER.fullmatch(number) else 403
            code = 101 if code is None else code
            entry = {"statusCode": code, "number": number, "status": STATUS_NAMES.get(code, "Failed"),
                     "cost": "0", "messageId": "None"}
            if code in ACCEPTED:
                entry["cost"] = f"{opts['currency']} {unit:.4f}"
                entry["messageId"] = f"ATXid_{uuid.uuid4().hex}"
                total += unit
                accepted.append({"number": number, "message": message, "messageId": entry["messageId"],
                                 "from": sender, "username": form["username"], "bulkSMSMode": form.get("bulkSMSMode"),
                                 "enqueue": form.get("enqueue"), "at": time.time()})
            recipients.append(entry)
        server.accept(accepted, opts, total)
        summary = f"Sent to {len(accepted)}/{len(numbers)} Total Cost: {opts['currency']} {total:.4f}"
        body = {"SMSMessageData": {"Message": summary, "Recipients": recipients}}
        return Response(json.dumps(body), status=201, content_type=opts["content_type"])

    @app.get("/version1/user")
    def user_data() -> Response:
        # AT's application data (the SDK's ApplicationService.fetch_application_data).
        opts = server.snapshot()
        username = request.args.get("username")
        answer = refused(opts, username)
        if answer is not None:
            return answer
        if not username:
            return _text("Request is missing required query parameter 'username'", 400)
        answer = faulty(opts)
        if answer is not None:
            return answer
        body = {"UserData": {"balance": server.balance(opts)}}
        return Response(json.dumps(body), status=200, content_type=opts["content_type"])

    @app.get("/_control")
    def show_control() -> Response:
        return jsonify(options=server.snapshot())

    @app.post("/_control")
    def control() -> Response | tuple[Response, int]:
        changes = request.get_json(silent=True)
        if not isinstance(changes, dict):
            return jsonify(error="send a JSON object of options"), 400
        if changes.pop("reset", False):
            server.reset()
        try:
            return jsonify(options=server.configure(**changes))
        except ValueError as exc:
            return jsonify(error=str(exc)), 400

    @app.get("/_sent")
    def sent() -> Response:
        with server._lock:
            messages = list(server.sent)
            count, requests_seen = len(server.sent), server.requests
        number = request.args.get("number")
        if number:
            messages = [m for m in messages if m["number"] == number]
        body: dict[str, Any] = {
            "requests": requests_seen, "count": count,
            "duplicates": [{"number": n, "message": m, "count": c} for (n, m), c in server.duplicates().items()],
        }
        if request.args.get("messages") != "0":
            body["messages"] = messages
        return jsonify(body)

    @app.delete("/_sent")
    def forget_sent() -> tuple[str, int]:
        with server._lock:
            server.sent, server.requests = [], 0
            server._by_id.clear()
        return "", 204

    @app.get("/_deliveries")
    def deliveries() -> Response:
        with server._posted:
            return jsonify(deliveries=list(server.deliveries))

    @app.post("/_deliver")
    def deliver() -> Response | tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        if not body.get("id") or not body.get("status"):
            return jsonify(error="id and status are required"), 400
        if not server.post_report(str(body["id"]), str(body["status"]), body.get("failureReason")):
            return jsonify(error="unknown message id, or no delivery_url set"), 404
        return jsonify(queued=True), 202

    return app


# --- running it ---------------------------------------------------------------------------------

class _QuietHandler(WSGIRequestHandler):
    """Logs errors but not every request: benchmarks send thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _server(app: Flask, host: str, port: int, quiet: bool):
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler if quiet else None)
    # socketserver listens with a backlog of 5; a benchmark's burst of connections would be refused.
    server.socket.listen(1024)
    return server


def serve_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0,
                    quiet: bool = True) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` (threaded) in a background thread; returns ``(base_url, stop)``.

    ``port=0`` takes a free port. ``stop()`` releases hanging requests, stops
    the delivery-report posters and the server. Works for any WSGI Flask app,
    e.g. a delivery-report receiver in a test.
    """
    server = _server(app, host, port, quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True, name=f"serve-{server.port}")
    thread.start()

    def stop() -> None:
        fake = app.extensions.get("at_server")
        if fake is not None:
            fake.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{host}:{server.port}", stop


def main(argv: list[str] | None = None) -> None:
    """``python -m devtools.at_server``: run the fake AT in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m devtools.at_server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="apiKey header expected ('' accepts any)")
    parser.add_argument("--username", default=None, help="username expected (default: any)")
    parser.add_argument("--delivery-url", default=None, help="where to post delivery reports")
    parser.add_argument("--delivery-delay", type=float, default=0.0, help="seconds before a report is posted")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every send request waits")
    parser.add_argument("--balance", default=DEFAULTS["balance"], help="the account's starting balance")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    app = create_app(api_key=args.api_key or None, username=args.username, delivery_url=args.delivery_url,
                     delivery_delay=args.delivery_delay, latency=args.latency, balance=args.balance)
    server = _server(app, args.host, args.port, quiet=not args.verbose)
    print(f"Fake Africa's Talking on http://{args.host}:{server.port} "
          f"(AT_API_URL=http://{args.host}:{server.port}); control at /_control, records at /_sent", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["at_server"].close()
        server.server_close()


if __name__ == "__main__":
    main()
