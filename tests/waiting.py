"""The one way tests and the demo wait for something: a condition polled until a deadline."""

import time


def wait_for(condition, timeout=30.0, interval=0.05):
    """Poll ``condition`` until it is truthy or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
