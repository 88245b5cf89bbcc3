"""The floor for bench/ussd.py: a bare Flask app whose ``POST /ussd`` returns a fixed ``CON`` screen.

    gunicorn -c gunicorn.conf.py bench.bare_app:app     (from the repository's root)

No database, no Redis, no session state, no form parsing: what gunicorn,
Flask and the loopback cost per request and nothing else. bench/ussd.py
serves it with the same gunicorn settings (gunicorn.conf.py, the same
worker count and class) as ``wsgi:app`` and plays the same sessions at it,
so the two throughputs and latencies can be set side by side.
"""
from flask import Flask, Response

# The shape of the real first screen (a menu of five lines), well under 160 characters.
SCREEN = ("CON Welcome to the clinic line\n1. My next visit\n2. Medicine collected\n3. My baby\n"
          "4. Settings\n5. Call me back")

app = Flask(__name__)


@app.post("/ussd")
def ussd() -> Response:
    return Response(SCREEN, content_type="text/plain; charset=utf-8")


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok", content_type="text/plain")
