"""HTTP sessions whose every socket read obeys one end time per exchange, headers included.

`requests` timeouts bound each socket read, not an answer: a server sending a header or body byte just inside the
timeout keeps one exchange alive for ever. Here each read waits at most until the end time set with `ends_at`, so
a trickling status line, header or body fails as a read timeout (`requests.Timeout`) once the time is up.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_exchange = threading.local()  # .ends: time.monotonic() value the current thread's exchange must finish by


@contextmanager
def ends_at(ends: float) -> Iterator[None]:
    """Every socket read of this thread's exchanges inside the block ends by `ends` (time.monotonic())."""
    _exchange.ends = ends
    try:
        yield
    finally:
        _exchange.ends = None


def deadline_session() -> requests.Session:
    session = requests.Session()
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _DeadlineSocketIO(socket.SocketIO):
    def readinto(self, buffer) -> int | None:
        ends = getattr(_exchange, "ends", None)
        if ends is not None:
            left = ends - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")  # as the socket itself says it
            self._sock.settimeout(left)
        return super().readinto(buffer)


class _DeadlineSocket:
    """The connection's socket, unchanged except that the file http.client reads answers from obeys `ends_at`."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def makefile(self, mode: str = "r", buffering: int | None = None, **_) -> object:
        if mode != "rb" or not isinstance(self._sock, socket.socket):  # TLS inside a TLS proxy: its own reader
            return self._sock.makefile(mode, buffering)
        self._sock._io_refs += 1  # as socket.makefile counts the files open on the socket
        return io.BufferedReader(_DeadlineSocketIO(self._sock, "rb"), buffering or 8192)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class _DeadlineConnectionMixin:
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class _HTTPConnection(_DeadlineConnectionMixin, HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnectionMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    POOLS = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):  # HTTP(S) proxies; a SOCKS manager has its own classes
            manager.pool_classes_by_scheme = self.POOLS
        return manager
