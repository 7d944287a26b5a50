"""A small HTTP/1.1 load generator: keep-alive connections, each request sent once.

Requests are pre-encoded bytes, so every one can be unique (a distinct signed notification).
Each connection is a closed-loop client, like the stores' senders and like `wrk`: it sends
its next request as soon as the previous answer is read, and records the latency. Like
`wrk`, a few processes (`PROCESSES`, forked, so the prepared requests are inherited rather
than copied) each drive their share of the connections from one `selectors` loop: the
generator then costs a few tens of microseconds of CPU per request and few context switches
on a 2-core machine that also runs the server. `Load.client_cpu_per_request` reports what
it cost, so a table can show the generator was not what limited a row.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import selectors
import socket
import statistics
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier

_CONTEXT = multiprocessing.get_context("fork")
PROCESSES = 2


def post(host: str, port: int, path: str, body: bytes, headers: Sequence[str] = ()) -> bytes:
    """A complete keep-alive POST request, ready to send."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def get(host: str, port: int, path: str, headers: Sequence[str] = ()) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass(frozen=True)
class Load:
    completed: int
    seconds: float
    latencies: Sequence[float]  # seconds, one per completed request
    statuses: Counter[int]
    client_cpu_seconds: float  # CPU the generator used while sending (user + system)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Latency at this fraction (0.5, 0.99), in milliseconds."""
        if not self.latencies:
            return float("nan")
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000
        cuts = statistics.quantiles(self.latencies, n=1000, method="inclusive")
        return cuts[min(len(cuts) - 1, max(0, round(fraction * 1000) - 1))] * 1000

    @property
    def client_cpu_per_request(self) -> float:
        """CPU seconds the generator spent per completed request."""
        return self.client_cpu_seconds / self.completed if self.completed else 0.0

    @property
    def failures(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != 200)


def run_load(
    host: str, port: int, requests: Sequence[bytes], *, clients: int, seconds: float
) -> Load:
    """Send `requests` over `clients` connections for at most `seconds`; the connections
    take them in turn (connection n sends requests n, n + clients, ...)."""
    processes = min(PROCESSES, clients)
    barrier = _CONTEXT.Barrier(processes + 1)
    pipes: list[Connection] = []
    workers = []
    for index in range(processes):
        receiving, sending = _CONTEXT.Pipe(duplex=False)
        mine = list(range(index, clients, processes))  # this process's connections
        worker = _CONTEXT.Process(
            target=_generate,
            args=(host, port, requests, mine, clients, seconds, barrier, sending),
            daemon=True,
        )
        worker.start()
        sending.close()
        pipes.append(receiving)
        workers.append(worker)
    barrier.wait()
    results = [_receive(pipe) for pipe in pipes]
    for worker in workers:
        worker.join()
    started = min(r[0] for r in results)
    ended = max(r[1] for r in results)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    for _, _, _, latency, status_counts in results:
        latencies.extend(latency)
        statuses.update(status_counts)
    cpu = sum(r[2] for r in results)
    return Load(len(latencies), ended - started, latencies, statuses, cpu)


def _receive(pipe: Connection) -> tuple[float, float, float, array[float], dict[int, int]]:
    started, ended, cpu, raw, status_counts = pipe.recv()
    latencies: array[float] = array("d")
    latencies.frombytes(raw)
    return started, ended, cpu, latencies, status_counts


class _Client:
    """One keep-alive connection sending its share of the requests, one at a time."""

    def __init__(self, host: str, port: int, requests: Sequence[bytes]) -> None:
        self.socket = socket.create_connection((host, port))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.requests = requests
        self.next = 0
        self.sent_at = 0.0
        self._buffer = b""

    def send(self, now: float) -> bool:
        """Send the next request; False when there is none left."""
        if self.next >= len(self.requests):
            return False
        self.socket.sendall(self.requests[self.next])
        self.next += 1
        self.sent_at = now
        return True

    def receive(self) -> int | None:
        """Read what arrived; the status once the whole response is in, else None."""
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self._buffer[:end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        total = end + 4 + length
        if len(self._buffer) < total:
            return None
        self._buffer = self._buffer[total:]
        return int(head[9:12])


def _generate(
    host: str,
    port: int,
    requests: Sequence[bytes],
    connections: list[int],
    clients: int,
    seconds: float,
    barrier: Barrier,
    out: Connection,
) -> None:
    selector = selectors.DefaultSelector()
    for number in connections:
        opened = _Client(host, port, requests[number::clients])
        selector.register(opened.socket, selectors.EVENT_READ, opened)
    latencies: array[float] = array("d")
    statuses: Counter[int] = Counter()
    clock = time.perf_counter
    barrier.wait()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = ended = clock()
    deadline = started + seconds
    busy = 0
    for key in list(selector.get_map().values()):
        busy += key.data.send(started)
    while busy:
        for key, _ in selector.select():
            client: _Client = key.data
            status = client.receive()
            if status is None:
                continue
            ended = clock()
            latencies.append(ended - client.sent_at)
            statuses[status] += 1
            if ended >= deadline or not client.send(ended):
                selector.unregister(client.socket)
                client.socket.close()
                busy -= 1
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime
    out.send((started, ended, spent, latencies.tobytes(), dict(statuses)))
    out.close()
    os._exit(0)  # skip the parent's atexit handlers and finalizers, inherited by fork
