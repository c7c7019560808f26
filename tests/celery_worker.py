"""A real Celery worker (Redis broker) running the stand-in LMS against the test databases."""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from tests.lms.celery import app
from tests.waiting import wait_for


def ctrl_c_restored():
    """
    ``preexec_fn`` for a command a test interrupts with SIGINT: Ctrl-C back to its default in the
    child. A shell without job control starts background jobs with SIGINT ignored (``make test &``,
    a CI runner's script), children inherit that, and Python then never raises KeyboardInterrupt:
    the command under test would go on running whatever it does with the signal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def subprocess_env():
    """Environment for another process of the stand-in LMS on this test's databases."""
    return {
        **os.environ,
        "ASPECTS_DB_NAME": connection.settings_dict["NAME"],
        "CLICKHOUSE_URL": settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG["url"],
        "CLICKHOUSE_DATABASE": settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG["database"],
    }


@contextmanager
def real_worker(log_file=None, processes=1, env=None):
    """
    Run a worker on a fresh queue; the calling process stops running tasks eagerly meanwhile.

    ``processes`` > 1 runs Celery's prefork pool with that many child processes (as LMS workers
    run); ``env`` adds to their environment.
    """
    queue = f"aspects.test.{uuid.uuid4().hex[:8]}"
    env = {**subprocess_env(), "ASPECTS_CELERY_QUEUE": queue, "CELERY_TASK_ALWAYS_EAGER": "0", **(env or {})}
    pool = ["-P", "solo"] if processes == 1 else ["-P", "prefork", "-c", str(processes)]
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "celery", "-A", "tests.lms.celery", "worker", *pool, "-Q", queue,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO" if log_file else "WARNING"],
        env=env, stdout=log_file or subprocess.DEVNULL, stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    # A connection of our own, closed right after: a pooled one would stay mid-poll and hang any
    # later fork of this process (kombu closes inherited channels after fork by reading from them).
    with app.connection_for_write() as ping_connection:
        while not app.control.ping(timeout=0.5, connection=ping_connection) and time.monotonic() < deadline:
            pass  # hand over a worker that is consuming, not one still booting
    saved = (app.conf.task_always_eager, settings.CELERY_TASK_ALWAYS_EAGER, settings.ASPECTS_CELERY_QUEUE)
    app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ASPECTS_CELERY_QUEUE = queue
    try:
        yield process
    finally:
        app.conf.task_always_eager, settings.CELERY_TASK_ALWAYS_EAGER, settings.ASPECTS_CELERY_QUEUE = saved
        process.terminate()
        process.wait(timeout=30)
        _forget_queue(queue)


def _forget_queue(queue):
    """Remove the run's queue (and kombu's bindings for it) so nothing piles up in the shared Redis."""
    import redis  # pylint: disable=import-outside-toplevel

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        keys = [key for pattern in (queue, f"_kombu.binding*{queue}*") for key in broker.keys(pattern)]
        if keys:
            broker.delete(*keys)
    finally:
        broker.close()


SHARED_CACHE_URL = "redis://127.0.0.1:6379/6"  # a Redis database of its own (the broker uses 5)


@contextmanager
def shared_cache():
    """
    Environment that gives worker processes one Redis cache, as LMS workers share theirs (the
    insert schedule lives there); its keys are removed afterwards.
    """
    import redis  # pylint: disable=import-outside-toplevel

    prefix = f"aspects-test-{uuid.uuid4().hex[:8]}"
    try:
        yield {"ASPECTS_TEST_CACHE_URL": SHARED_CACHE_URL, "ASPECTS_TEST_CACHE_PREFIX": prefix}
    finally:
        shared = redis.Redis.from_url(SHARED_CACHE_URL)
        try:
            for key in shared.scan_iter(f"{prefix}:*"):
                shared.delete(key)
        finally:
            shared.close()


def beat_until_delivered(timeout=120):
    """
    Send the periodic ``drain_outbox`` to the running worker, as Celery beat would, until the outbox
    is empty (entries in back-off after an outage go out when their time comes); True once it is.
    """
    from platform_plugin_aspects.models import OutboxEntry  # pylint: disable=import-outside-toplevel
    from platform_plugin_aspects.tasks import drain_outbox  # pylint: disable=import-outside-toplevel

    def empty_after_a_beat():
        drain_outbox.apply_async(queue=settings.ASPECTS_CELERY_QUEUE)
        return wait_for(lambda: not OutboxEntry.objects.exists(), timeout=1.0)

    return wait_for(empty_after_a_beat, timeout=timeout, interval=0)
