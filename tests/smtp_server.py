"""
A real SMTP server on loopback (aiosmtpd), started by the test: the digest tests assert on the MIME
messages it received, exactly as a mail relay would get them.
"""

import email
import email.policy
import multiprocessing
import socket
import threading
import time
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class Inbox:
    """What the server received: ``messages`` ([(envelope recipients, parsed message)]), thread-safe."""

    def __init__(self, refuse=()):
        self.refuse = set(refuse)  # addresses answered "550 no such user"
        self.messages = []
        self._changed = threading.Condition()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._changed:
            self.messages.append((list(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count, timeout=30):
        """Block until ``count`` messages arrived (or the deadline); returns the messages."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            return list(self.messages)

    def to(self, address):
        """The messages whose envelope includes ``address``."""
        return [message for rcpt, message in self.messages if address in rcpt]


def reserve_port():
    """A loopback port bound (so nobody takes it) but not listening: connecting to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def smtp_server(port=None, refuse=(), reserved=None):
    """Run an SMTP server on ``port`` (default: a free one) until the block ends; yields (inbox, port).

    ``reserved``: a socket from ``reserve_port`` holding the port until the server takes it over.
    """
    if port is None:
        reserved = reserved or reserve_port()
        port = reserved.getsockname()[1]
    if reserved is not None:
        reserved.close()
    inbox = Inbox(refuse)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class _Counter:
    """Accept every message and count it (the relay process's handler)."""

    def __init__(self, received):
        self.received = received

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.received.get_lock():
            self.received.value += 1
        return "250 Message accepted for delivery"


def _relay(port, received, ready, stop):
    """The body of smtp_relay's process: serve until told to stop."""
    controller = Controller(_Counter(received), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


@contextmanager
def smtp_relay(timeout=60):
    """
    A real SMTP server on loopback in a process of its own, as a mail relay is, counting what it
    accepts: yields (received, port), ``received.value`` the count. For benchmarks: an in-process
    server would parse every message on the sender's interpreter, competing with it for the GIL.
    """
    context = multiprocessing.get_context("spawn")
    received, ready, stop = context.Value("i", 0), context.Event(), context.Event()
    reserved = reserve_port()
    port = reserved.getsockname()[1]
    reserved.close()
    process = context.Process(target=_relay, args=(port, received, ready, stop), daemon=True)
    process.start()
    try:
        if not ready.wait(timeout):
            raise RuntimeError(f"the SMTP relay did not start on port {port} within {timeout} s")
        yield received, port
    finally:
        stop.set()
        process.join(timeout)
        if process.is_alive():
            process.terminate()
