"""gunicorn settings for the API: `gunicorn 'marketplace.app:create_app()'`.

Workers default to cores + 1, with 4 threads each; the scheduler never runs here
(`marketplace scheduler`).
"""

import gc
import multiprocessing
import os

bind = os.environ.get("MARKETPLACE_BIND", "127.0.0.1:8000")
# Threads in a few processes: keep-alive connections, and a slow client holds one thread,
# not a whole process. Each thread has its own database session (a scoped session).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
timeout = 30
graceful_timeout = 20
keepalive = 5
# A worker is replaced after this many requests (a guard against slow leaks). Booting one costs
# about a second and a half of CPU and starts its public cache cold, so at 10,000 (and a jitter
# of 1,000) the workers were replaced every few seconds under load, often together, and served
# about a fifth fewer reads with stalls of up to a second. The wide jitter keeps them apart.
max_requests = 100_000
max_requests_jitter = 50_000
accesslog = None  # the service logs each request as JSON itself
# A kept-alive connection is closed after this many requests (nginx's keepalive_requests does
# the same; 0: never). A connection stays with the worker that accepted it, and one worker is one
# GIL: a client that reconnects lands on a worker free to accept it, so a few busy connections
# do not stay piled on one worker while the others idle.
keepalive_requests = int(os.environ.get("GUNICORN_KEEPALIVE_REQUESTS", "100"))


def post_worker_init(worker):  # gunicorn's hook signature
    """The app is loaded: its objects (modules, routes, schemas, the API document: about 124,000
    of them) are moved out of the garbage collector's sight. Otherwise every full collection walks
    them all, holding the GIL, and stops the worker's threads for 100–360 ms under load."""
    gc.freeze()


def post_fork(server, worker):  # gunicorn's hook signature
    """Each worker writes its JSON log lines (one per request, with its request id) to stderr."""
    from marketplace.observability import configure_logging

    configure_logging()


def pre_request(worker, req):  # gunicorn's hook signature
    """Close the connection after this request once it has carried `keepalive_requests`."""
    if keepalive_requests and req.req_number >= keepalive_requests:
        req.must_close = True


def child_exit(server, worker):  # gunicorn's hook signature
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
