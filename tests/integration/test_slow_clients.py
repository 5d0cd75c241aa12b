"""Slow clients and idle connections next to a legitimate hub (the issue: "slow clients (a
connection that sends a byte a second), many idle connections: each gets its error or its timeout
while other clients keep being served").

`edgeca serve` runs with 4 worker threads per listener, a 3 s whole-request deadline
(request_timeout) and a 6 s keep-alive, and each test opens more bad connections than there are
workers, on the HTTPS API and on the plain-HTTP public listener:

- SlowClientsTest: connections that trickle a request one byte a second (the request line over
  TLS; the body after complete headers; a second request on a kept-alive connection), one that
  completes TLS and sends nothing, and one that connects over TCP and never starts TLS.
- IdleConnectionsTest: connections left open, idle, after a completed request.
- SlowlorisFromOneAddressTest (its own settings: 8 workers, 4 connections per client address):
  an attacker on another loopback address (127.0.0.2) keeps three times as many slowloris
  connections as there are workers open on each listener, reconnecting as soon as one is closed,
  plus idle kept-alive connections; a legitimate client's requests are answered within a couple
  of seconds (or 10 times its latency measured before the attack, if that is more), where
  without the per-client limit they wait for the whole request_timeout of 20 s.

Meanwhile a hub keeps issuing edge certificates and a device keeps fetching the CRL: every one of
their requests succeeds, none waits longer than a bad connection may hold a worker (plus 3 s),
and every bad connection is closed by the server within its deadline plus 3 s, as measured by the
client from the moment the server was certainly serving it (the TCP connect for connections
opened while workers were free, the end of the TLS handshake, the response to a first request).
"""
import http.client
import select
import socket
import ssl
import sys
import threading
import time
import unittest

from crash_support import TRANSPORT_ERRORS, Caller, percentile
from harness import SERVICE_CONFIG, IssuingCA, TempDirTestCase

THREADS = 4
REQUEST_TIMEOUT = 3.0
KEEP_ALIVE_TIMEOUT = 6.0
SLACK = 3.0  # on every deadline: the watchdog's tick, a loaded machine, the client's own wake-up
# The time the server gives an idle connection when every worker is taken (documented in
# docs/configuration.md); the legitimate clients of IdleConnectionsTest wait at most this + SLACK.
IDLE_WHEN_BUSY = 0.5
QUEUE_WAIT = 30.0  # how long a bad connection waits for a worker to take it (TLS handshake)

# Top-level keys come before the first [section] of SERVICE_CONFIG.
SLOW_CONFIG = f"""threads = {THREADS}
request_timeout = "{REQUEST_TIMEOUT:.0f}s"
keep_alive_timeout = "{KEEP_ALIVE_TIMEOUT:.0f}s"
""" + SERVICE_CONFIG


def say(line):
    """Figures for the person reading the test output (run.py prints one line per test)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def get_status(conn, path):
    """GET `path` on a fresh connection, read the whole answer, close; the status."""
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def first_line(data):
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else ""


class BadConnection:
    """One connection that does not send a whole request in time. It connects, completes TLS
    (with `context`), sends `first_request` and reads its response (plain HTTP), sends `prefix`
    at once, then `trickle` one byte a second, and notes when the server closed the connection
    (end of stream, reset, TLS EOF), counted from `reference`: the last moment of which the
    client knows that the server was serving it."""

    def __init__(self, name, port, deadline, context=None, first_request=None, prefix=b"", trickle=b""):
        self.name, self.port, self.deadline = name, port, deadline
        self.context, self.first_request = context, first_request
        self.prefix, self.trickle = prefix, trickle
        self.sock = None
        self.reference = None
        self.closed_after = None  # seconds from `reference` to the server's close
        self.sent = 0
        self.answer = b""
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            self.open()
            self.watch()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = repr(e)
        finally:
            if self.sock is not None:
                self.sock.close()

    def open(self):
        if self.first_request is not None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=QUEUE_WAIT)
            conn.request("GET", self.first_request)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise AssertionError(f"the first request answered {response.status}")
            self.sock, conn.sock = conn.sock, None  # kept alive; http.client lets go of it
            conn.close()
        else:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=QUEUE_WAIT)
            if self.context is not None:
                self.sock = self.context.wrap_socket(self.sock, server_hostname="localhost")
        self.reference = time.monotonic()
        if self.prefix:
            self.sock.sendall(self.prefix)
            self.sent += len(self.prefix)
        # Non-blocking from here: a TLS 1.3 session ticket makes the socket readable without
        # any application data, and a blocking recv would then wait.
        self.sock.setblocking(False)

    def readable(self, wait):
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        return bool(select.select([self.sock], [], [], max(0.0, wait))[0])

    def watch(self):
        give_up = self.reference + self.deadline + SLACK + 1
        pending = list(self.trickle)
        next_byte = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= give_up:
                return
            if pending and now >= next_byte:
                try:
                    self.sock.send(bytes([pending.pop(0)]))
                    self.sent += 1
                except (ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except OSError:
                    return self.server_closed()
                next_byte += 1.0
            wake = min(give_up, next_byte) if pending else give_up
            if not self.readable(wake - time.monotonic()):
                continue
            try:
                data = self.sock.recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            except OSError:
                return self.server_closed()
            if not data:
                return self.server_closed()
            self.answer += data  # an error response before the close

    def server_closed(self):
        self.closed_after = time.monotonic() - self.reference

    def describe(self):
        answer = f", answered '{first_line(self.answer)}'" if self.answer else ""
        return f"{self.name}: sent {self.sent} bytes{answer}"


class IdleConnection(BadConnection):
    """A client that keeps its connection open, idle, after each answered request, and comes
    back with a new connection once the server closed it, until `until`. `closed_after` is the
    longest time from an answer to the server's close (None when one connection was not closed);
    `reference` is the end of the latest response."""

    def __init__(self, name, port, deadline, path, until, context=None):
        super().__init__(name, port, deadline, context=context)
        self.path, self.until = path, until
        self.statuses = []
        self.closings = []

    def run(self):
        try:
            while True:
                self.open()
                self.watch()
                self.sock.close()
                self.sock = None
                if self.closed_after is None:
                    return
                self.closings.append(self.closed_after)
                self.closed_after = None
                if time.monotonic() >= self.until:
                    self.closed_after = max(self.closings)
                    return
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = repr(e)
        finally:
            if self.sock is not None:
                self.sock.close()

    def open(self):
        if self.context is not None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=QUEUE_WAIT)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=QUEUE_WAIT)
        try:
            conn.request("GET", self.path)
            response = conn.getresponse()
            response.read()
            self.statuses.append(response.status)
            self.sock, conn.sock = conn.sock, None
        finally:
            conn.close()
        self.reference = time.monotonic()
        self.sock.setblocking(False)

    def describe(self):
        return f"{self.name}: {len(self.statuses)} connections, answered {self.statuses}"


class LegitimateClient:
    """Sends `request()` again and again until stopped; keeps latencies and failures."""

    def __init__(self, name, request, expected):
        self.name, self.request, self.expected = name, request, expected
        self.latencies = []
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        limit = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < limit:
            started = time.monotonic()
            try:
                status = self.request()
                self.latencies.append(time.monotonic() - started)
                if status != self.expected:
                    self.failures.append(f"answered {status}")
            except TRANSPORT_ERRORS as e:
                self.failures.append(f"{e!r} after {time.monotonic() - started:.1f}s")
            self.stop.wait(0.05)

    def figures(self):
        if not self.latencies:
            return f"{self.name} none served"
        return (f"{self.name} {len(self.latencies)} served, p50 {percentile(self.latencies, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(self.latencies, 0.99) * 1000:.0f} ms, max {max(self.latencies) * 1000:.0f} ms")


class ServedUnderLoad(TempDirTestCase):
    """A CA with a hub and a registered device, and the two legitimate clients."""

    def start_service(self):
        ca = IssuingCA(self, config=SLOW_CONFIG)
        ca.start()
        hub = ca.enroll("hub-1")
        ca.add_product("P1")
        status, _, body = ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": "SN-LEGIT"},
                                     cert=hub[0], key=hub[1])
        self.assertEqual(status, 201, body)
        _, csr = self.make_key_and_csr("legit", "/CN=SN-LEGIT")
        issue_body = {"csr": open(csr).read(), "profile": "edge", "product_key": "P1", "device_key": "SN-LEGIT"}
        hub_caller = Caller(ca, *hub, timeout=QUEUE_WAIT)

        def issue():
            return hub_caller.request("POST", "/v1/certificates", issue_body)[0]

        def fetch_crl():
            return get_status(http.client.HTTPConnection("127.0.0.1", ca.public_port, timeout=QUEUE_WAIT), "/crl")

        self.assertEqual(issue(), 201)
        self.assertEqual(fetch_crl(), 200)
        self.legit = [LegitimateClient("hub issuing", issue, 201), LegitimateClient("CRL fetcher", fetch_crl, 200)]
        return ca

    def run_alongside(self, ca, waves):
        """Starts each wave of bad connections 0.3 s after the previous one, then the legitimate
        clients; returns when every bad connection is done (each is bounded)."""
        started = time.monotonic()
        connections = [c for wave in waves for c in wave]
        try:
            for wave in waves:
                for c in wave:
                    c.thread.start()
                time.sleep(0.3)
            time.sleep(0.3)  # the legitimate clients come when the workers are taken
            for client in self.legit:
                client.thread.start()
            for c in connections:
                c.thread.join(timeout=QUEUE_WAIT + 3 * (KEEP_ALIVE_TIMEOUT + SLACK))
                self.assertFalse(c.thread.is_alive(), f"{c.name} did not finish")
        finally:
            for client in self.legit:
                client.stop.set()
            for client in self.legit:
                if client.thread.ident is not None:  # started
                    client.thread.join(timeout=QUEUE_WAIT + 5)
        self.assertIsNone(ca.process.poll(), "edgeca serve died")
        return time.monotonic() - started

    def check(self, ca, connections, latency_bound, min_served):
        for c in connections:
            self.assertIsNone(c.error, f"{c.name} failed: {c.error}")
            self.assertIsNotNone(c.closed_after, f"{c.describe()}; the server had not closed it "
                                 f"{c.deadline + SLACK + 1:.0f} s after it began to serve it")
            self.assertLessEqual(c.closed_after, c.deadline + SLACK,
                                 f"{c.describe()}; closed {c.closed_after:.1f} s after the server began to "
                                 f"serve it, deadline {c.deadline:.0f} s")
        for client in self.legit:
            self.assertFalse(client.thread.is_alive(), f"the {client.name} did not stop")
            self.assertEqual(client.failures, [], f"the {client.name} failed next to the bad connections")
            self.assertLessEqual(max(client.latencies, default=0), latency_bound,
                                 f"the {client.name} waited {max(client.latencies, default=0):.1f} s for an answer")
            self.assertGreaterEqual(len(client.latencies), min_served, f"the {client.name} was hardly served")
        self.assertEqual(ca.stop(), 0, "edgeca serve did not stop cleanly")

    @staticmethod
    def closing_times(connections):
        times = sorted(c.closed_after for c in connections if c.closed_after is not None)
        if not times:
            return "none closed by the server"
        return f"{len(times)} closed by the server after {times[0]:.1f}-{times[-1]:.1f} s"


class SlowClientsTest(ServedUnderLoad):
    def test_slow_and_silent_connections_are_cut_at_the_deadline_while_others_are_served(self):
        ca = self.start_service()
        tls = ca.context()  # no client certificate: what anyone on the network can do
        header = b"POST /v1/certificates HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        headers_then_body = (b"POST /v1/certificates HTTP/1.1\r\nHost: localhost\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 64\r\n\r\n")
        plain_header = b"GET /crl HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n"
        plain_body = b"POST /crl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 64\r\n\r\n"
        deadline = REQUEST_TIMEOUT
        # First the connections without a client-side view of when a worker took them: opened
        # while every worker is free, a worker takes each at once.
        silent = [
            BadConnection("api: TCP only, no TLS", ca.api_port, deadline),
            BadConnection("api: TLS, then nothing", ca.api_port, deadline, context=tls),
            BadConnection("public: TCP, nothing", ca.public_port, deadline),
        ]
        slow = [BadConnection(f"api: request line over TLS, 1 byte/s #{i}", ca.api_port, deadline, context=tls,
                              trickle=header) for i in range(THREADS - 1)]
        slow.append(BadConnection("api: body over TLS after the headers, 1 byte/s", ca.api_port, deadline,
                                  context=tls, prefix=headers_then_body, trickle=b"{" * 64))
        slow += [BadConnection(f"public: second request on a kept-alive connection, 1 byte/s #{i}",
                               ca.public_port, deadline, first_request="/ca.pem", trickle=plain_header)
                 for i in range(THREADS - 1)]
        # The public listener takes no bodies: refused (413) and closed at once.
        slow.append(BadConnection("public: body after the headers, 1 byte/s", ca.public_port, deadline,
                                  first_request="/ca.pem", prefix=plain_body, trickle=b"x" * 64))
        elapsed = self.run_alongside(ca, [silent, slow])

        connections = silent + slow
        per_listener = {port: sum(1 for c in connections if c.port == port) for port in (ca.api_port, ca.public_port)}
        say(f"slow clients: {len(connections)} connections opened ({per_listener[ca.api_port]} on the API, "
            f"{per_listener[ca.public_port]} on the public listener, {THREADS} workers each), "
            f"{self.closing_times(connections)} (deadline {REQUEST_TIMEOUT:.0f} s); "
            f"{'; '.join(client.figures() for client in self.legit)}; {elapsed:.1f}s")
        for c in connections:
            if c.closed_after is None or c.closed_after > c.deadline + SLACK or c.error:
                say(f"slow clients: {c.describe()}, closed after {c.closed_after}, error {c.error}")
        # A legitimate request waits at most for one bad connection's deadline to pass.
        self.check(ca, connections, REQUEST_TIMEOUT + SLACK, min_served=10)


class IdleConnectionsTest(ServedUnderLoad):
    def test_idle_kept_alive_connections_give_way_to_clients_with_requests(self):
        ca = self.start_service()
        tls = ca.context()
        # Twice as many clients as workers on each listener, each coming back for 4 s.
        until = time.monotonic() + 4
        idle = [IdleConnection(f"api: idle after GET /healthz #{i}", ca.api_port, KEEP_ALIVE_TIMEOUT, "/healthz",
                               until, context=tls) for i in range(2 * THREADS)]
        idle += [IdleConnection(f"public: idle after GET /ca.pem #{i}", ca.public_port, KEEP_ALIVE_TIMEOUT,
                                "/ca.pem", until) for i in range(2 * THREADS)]
        elapsed = self.run_alongside(ca, [idle])

        closings = sorted(t for c in idle for t in c.closings)
        statuses = sorted({status for c in idle for status in c.statuses})
        say(f"idle connections: {len(closings)} kept-alive connections opened by {len(idle)} clients "
            f"({2 * THREADS} per listener, {THREADS} workers each), answered {statuses}, all closed by the "
            f"server after {closings[0]:.1f}-{closings[-1]:.1f} s idle (p50 {percentile(closings, 0.5):.1f} s; "
            f"keep-alive {KEEP_ALIVE_TIMEOUT:.0f} s); "
            f"{'; '.join(client.figures() for client in self.legit)}; {elapsed:.1f}s")
        for c in idle:
            self.assertEqual(set(c.statuses), {200}, f"{c.describe()}; {c.error}")
        # Idle connections give their workers up when others wait: the legitimate clients never
        # wait for a keep-alive period to end.
        self.check(ca, idle, IDLE_WHEN_BUSY + SLACK, min_served=2)


ATTACKER = "127.0.0.2"  # Linux routes all of 127/8 to loopback: another client address
ATTACK_THREADS = 8
PER_CLIENT = 4
SLOWLORIS_CONFIG = f"""threads = {ATTACK_THREADS}
max_connections_per_client = {PER_CLIENT}
""" + SERVICE_CONFIG  # request_timeout stays at its default of 20 s


class Attacker:
    """Keeps `count` connections from ATTACKER open on `port` until stopped: each sends `opening`
    (completing TLS first when `context` is given), then `trickle` a byte every 0.5 s, and opens
    a new connection as soon as the server closed the old one."""

    def __init__(self, port, count, context=None, opening=b"", trickle=b""):
        self.port, self.context, self.opening, self.trickle = port, context, opening, trickle
        self.stop = threading.Event()
        self.connections = 0
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(count)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def run(self):
        while not self.stop.is_set():
            sock = None
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=2,
                                                source_address=(ATTACKER, 0))
                if self.context is not None:
                    sock = self.context.wrap_socket(sock, server_hostname="localhost")
                self.connections += 1
                sock.sendall(self.opening)
                for byte in self.trickle:
                    if self.stop.wait(0.5):
                        break
                    sock.sendall(bytes([byte]))
                # Then hold the connection (reading any answer) until the server closes it.
                while not self.stop.is_set():
                    if select.select([sock], [], [], 0.5)[0] and not sock.recv(4096):
                        break
            except (OSError, ValueError):
                pass  # closed by the server: come back
            finally:
                if sock is not None:
                    sock.close()
            self.stop.wait(0.05)


class SlowlorisFromOneAddressTest(TempDirTestCase):
    def test_one_address_cannot_take_every_worker(self):
        ca = IssuingCA(self, config=SLOWLORIS_CONFIG)
        ca.start()
        tls = ca.context()

        def healthz():
            return get_status(http.client.HTTPSConnection("127.0.0.1", ca.api_port, context=tls, timeout=8), "/healthz")

        def crl():
            return get_status(http.client.HTTPConnection("127.0.0.1", ca.public_port, timeout=8), "/crl")

        def latencies(rounds):
            """The legitimate client, from 127.0.0.1: the slowest of `rounds` requests to each."""
            worst, failures = 0.0, []
            for _ in range(rounds):
                for request in (healthz, crl):
                    started = time.monotonic()
                    try:
                        status = request()
                        if status != 200:
                            failures.append(f"{request.__name__} answered {status}")
                    except TRANSPORT_ERRORS as e:
                        failures.append(f"{request.__name__}: {e!r}")
                    worst = max(worst, time.monotonic() - started)
                time.sleep(0.1)
            return worst, failures

        baseline, failures = latencies(5)
        self.assertEqual(failures, [])
        header = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 200
        plain_header = b"GET /crl HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 200
        idle = b"GET /crl HTTP/1.1\r\nHost: localhost\r\n\r\n"
        attackers = [
            Attacker(ca.api_port, 3 * ATTACK_THREADS, context=tls, opening=header[:20], trickle=header[20:]),
            Attacker(ca.api_port, 4),  # TCP only, never starts TLS
            Attacker(ca.public_port, 3 * ATTACK_THREADS, opening=plain_header[:20], trickle=plain_header[20:]),
            Attacker(ca.public_port, ATTACK_THREADS, opening=idle),  # answered, then kept idle
        ]
        try:
            for attacker in attackers:
                attacker.start()
            time.sleep(1.5)  # every worker the attacker may get is taken
            under_attack, failures = latencies(5)
        finally:
            for attacker in attackers:
                attacker.finish()
        refused = [e for e in ca.events() if e.get("event") == "connection_refused"]
        bound = max(2.0, 10 * baseline)
        say(f"slowloris from one address: {sum(a.connections for a in attackers)} attacking connections opened "
            f"({ATTACK_THREADS} workers, {PER_CLIENT} per client), {len(refused)} refusal lines logged; "
            f"legitimate client's slowest request {baseline * 1000:.0f} ms before, "
            f"{under_attack * 1000:.0f} ms during the attack (bound {bound * 1000:.0f} ms)")
        self.assertEqual(failures, [], "the legitimate client failed during the attack")
        self.assertLessEqual(under_attack, bound, "the legitimate client waited behind the attacker")
        self.assertTrue(refused and all(e["client"] == ATTACKER for e in refused), refused)
        self.assertIsNone(ca.process.poll(), "edgeca serve died")
        self.assertEqual(ca.stop(), 0, "edgeca serve did not stop cleanly")


if __name__ == "__main__":
    unittest.main()
