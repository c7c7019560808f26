"""Ports for the local services: the one helper every launcher and test uses."""

import socket


def free_port(host="127.0.0.1"):
    """A TCP port on ``host`` that the OS says is free right now (bind to port 0, read it back)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_taken(host, port, timeout=0.5):
    """Whether something already accepts connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, int(port))) == 0
