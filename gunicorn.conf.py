"""gunicorn settings: `gunicorn -c gunicorn.conf.py app:app` (every value can be overridden by env)."""

import multiprocessing
import os

# The loopback unless told otherwise: the app answers only its reverse proxy on this host. In a
# container behind a proxy (deploy/), GUNICORN_BIND=0.0.0.0:8000 and PROXY_COUNT=1 say so.
bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"
# (2 x cores) + 1 sync workers is gunicorn's own rule of thumb for I/O-bound apps.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
# Recycle a worker now and then (a guard against slow leaks). With the app preloaded in the
# master a new worker is a fork, not a second import of the whole app, so this costs little.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 10000))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", 1000))
# Import the app once in the master: workers start (and restart) in milliseconds and share its
# pages. Safe because creating the app opens no connection (the pool connects on first use,
# in each worker).
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").lower() not in {"0", "false", "no"}
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")  # stdout
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Which peers gunicorn believes about the scheme (X-Forwarded-Proto). The client address is the
# app's business: PROXY_COUNT (ProxyFix) says how many proxies' X-Forwarded-For to trust.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 27 opens a control socket under ~/.gunicorn by default; we do not use it.
control_socket_disable = True


def _redacting_logger():
    """gunicorn's logger, with reset and tracking tokens replaced in the access log's URLs
    (request line, path, query string, referer) by fixmyphone.observability.redact_url."""
    from gunicorn.glogging import Logger

    from fixmyphone.observability import redact_url

    url_atoms = {"r", "U", "q", "f", "{referer}i", "{raw_uri}e", "{path_info}e"}
    url_atoms |= {"{query_string}e", "{request_uri}e", "{http_referer}e"}

    class RedactingLogger(Logger):
        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for key in url_atoms.intersection(atoms):
                if isinstance(atoms[key], str):
                    atoms[key] = redact_url(atoms[key])
            return atoms

    return RedactingLogger


logger_class = _redacting_logger()
