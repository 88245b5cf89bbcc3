"""gunicorn settings, read automatically from the working directory.

BIND wins; otherwise a platform's PORT (Heroku-style) on all interfaces;
otherwise 127.0.0.1:8000. WEB_CONCURRENCY sets the number of processes.
"""
import os

bind = os.environ.get("BIND") or (f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# A USSD request spends most of its time waiting on PostgreSQL and Redis round trips
# (docs/performance.md): threads let a process answer another request meanwhile.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# USSD must answer within AT's ~10 s; a request stuck longer is better killed.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = "-"
# Africa's Talking's USSD and SMS callbacks carry phone numbers in the body, not the URL;
# query strings (which hold CALLBACK_TOKEN) are left out of the access log.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
