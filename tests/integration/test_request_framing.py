"""Request bodies and framing (security review items 6 and 7), on both listeners of `edgeca serve`,
with raw sockets that send exactly the bytes of each attack:

- a gzip bomb sent chunked (256 KiB that inflate to 256 MiB) is refused before it is read, and
  the serve process's peak RSS (VmHWM) does not grow by anything near what it would inflate to;
- a chunked body larger than max_body_bytes is refused, not read whole;
- Content-Length with Transfer-Encoding, a GET with a body, and the unread body of a 413 each
  get one error answer, after which the server closes the connection: the request hidden after
  them is never answered;
- two ordinary requests on one connection are still both answered (keep-alive still works).
"""
import socket
import ssl
import time
import unittest
import zlib

from harness import SERVICE_CONFIG, IssuingCA, TempDirTestCase

INFLATED = 256 << 20  # what the bomb inflates to
HWM_GROWTH_LIMIT = 64 << 20  # the serve process may grow by this much at most while attacked
READ_LIMIT = 10.0  # seconds to wait for the server to close a connection
MAX_BODY = 65536  # max_body_bytes (the default)


def gzip_bomb():
    """INFLATED zero bytes, gzip-compressed (about 256 KiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(INFLATED // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


def chunked(data, size=16384):
    out = bytearray()
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/PID/status")


def parse_responses(data):
    """The HTTP/1.1 responses in `data`, as (status, headers, body); framing by Content-Length."""
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            responses.append((None, {}, head))  # a partial answer counts as one
            break
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        responses.append((status, headers, rest[:length]))
        data = rest[length:]
    return responses


class RawConnection:
    """One TCP (or TLS) connection to a listener, driven byte for byte."""

    def __init__(self, port, context=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=READ_LIMIT)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data):
        """Sends `data`; the server may close its side early (it refused the request), which is
        not an error here: what it answered is read next."""
        try:
            self.sock.sendall(data)
        except OSError:
            pass

    def read_response(self):
        """One response (status, headers, body), for a request whose answer keeps the connection."""
        data = b""
        deadline = time.monotonic() + READ_LIMIT
        while time.monotonic() < deadline:
            parsed = parse_responses(data)
            if parsed and parsed[0][0] is not None:
                status, headers, body = parsed[0]
                if len(body) >= int(headers.get("content-length", "0") or 0):
                    return parsed[0]
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        raise AssertionError(f"no whole response; got {data[:200]!r}")

    def read_until_closed(self):
        """Everything the server sends until it closes the connection; (data, closed)."""
        data = b""
        deadline = time.monotonic() + READ_LIMIT
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:  # reset, TLS EOF: closed
                return data, True
            if not chunk:
                return data, True
            data += chunk
        return data, False

    def close(self):
        self.sock.close()


class RequestFramingTest(TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        cls.bomb = gzip_bomb()

    def setUp(self):
        super().setUp()
        self.ca = IssuingCA(self, config=SERVICE_CONFIG)
        self.ca.start()
        self.tls = self.ca.context()  # no client certificate: anyone on the network
        # Both listeners, each with a route that takes a POST (the API) or none (public).
        self.listeners = [("api", self.ca.api_port, self.tls, "/v1/certificates", "/healthz"),
                          ("public", self.ca.public_port, None, "/crl", "/ca.pem")]

    def tearDown(self):
        self.assertIsNone(self.ca.process.poll(), "edgeca serve died")
        self.assertEqual(self.ca.stop(), 0)
        super().tearDown()

    def attack(self, port, context, data):
        conn = RawConnection(port, context)
        try:
            conn.send(data)
            return conn.read_until_closed()
        finally:
            conn.close()

    def assert_one_refusal(self, name, port, context, data, status):
        answer, closed = self.attack(port, context, data)
        responses = parse_responses(answer)
        self.assertTrue(responses, f"{name}: no answer")
        self.assertEqual([r[0] for r in responses], [status],
                         f"{name}: answered {[r[0] for r in responses]}: {answer[:600]!r}")
        self.assertTrue(closed, f"{name}: the connection was still open {READ_LIMIT:.0f} s after the answer")
        self.assertEqual(responses[0][1].get("connection"), "close", f"{name}: {responses[0][1]}")

    def test_gzip_bomb_sent_chunked_is_refused_unread(self):
        for name, port, context, post_path, _ in self.listeners:
            before = peak_rss(self.ca.process.pid)
            request = (f"POST {post_path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       f"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + chunked(self.bomb)
            self.assert_one_refusal(f"{name}: chunked gzip bomb", port, context, request, 415)
            # The same bomb with a Content-Length within max_body_bytes.
            small = self.bomb[:MAX_BODY // 2]
            request = (f"POST {post_path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       f"Content-Encoding: gzip\r\nContent-Length: {len(small)}\r\n\r\n").encode() + small
            self.assert_one_refusal(f"{name}: gzip body with a length", port, context, request, 415)
            growth = peak_rss(self.ca.process.pid) - before
            self.assertLess(growth, HWM_GROWTH_LIMIT,
                            f"{name}: the serve process's peak RSS grew by {growth >> 20} MiB "
                            f"under a {len(self.bomb) >> 10} KiB gzip bomb")

    def test_chunked_body_larger_than_the_limit_is_refused_unread(self):
        body = b"{" + b" " * (4 * MAX_BODY) + b"}"
        for name, port, context, post_path, _ in self.listeners:
            request = (f"POST {post_path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       f"Transfer-Encoding: chunked\r\n\r\n").encode() + chunked(body)
            self.assert_one_refusal(f"{name}: chunked body of {len(body)} bytes", port, context, request, 411)
            # No Content-Length and no Transfer-Encoding: httplib would read until the client closes.
            request = (f"POST {post_path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       f"\r\n").encode() + body
            self.assert_one_refusal(f"{name}: body without a length", port, context, request, 411)

    def test_smuggled_requests_are_never_answered(self):
        for name, port, context, post_path, get_path in self.listeners:
            # A path of its own, to find it in the request log; it would be answered 404.
            hidden = "GET /hidden-request HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
            # Content-Length and Transfer-Encoding: a proxy would read the length, httplib the chunks.
            request = (f"POST {post_path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {5 + len(hidden)}\r\nTransfer-Encoding: chunked\r\n\r\n"
                       f"0\r\n\r\n").encode() + hidden
            self.assert_one_refusal(f"{name}: Content-Length with Transfer-Encoding", port, context, request, 400)
            # A body over max_body_bytes, answered 413 before it is read.
            body = hidden + b"x" * (MAX_BODY + 1 - len(hidden))
            request = (f"POST {post_path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            self.assert_one_refusal(f"{name}: unread body of a 413", port, context, request, 413)
            # A GET with a body: httplib reads no body of a GET.
            request = (f"GET {get_path} HTTP/1.1\r\nHost: localhost\r\n"
                       f"Content-Length: {len(hidden)}\r\n\r\n").encode() + hidden
            # The public listener takes no bodies at all (413); the API takes none on a GET (400).
            self.assert_one_refusal(f"{name}: GET with a body", port, context, request,
                                    413 if name == "public" else 400)
            # Two Content-Length headers.
            request = (f"POST {post_path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       f"Content-Length: 0\r\nContent-Length: {len(hidden)}\r\n\r\n").encode() + hidden
            self.assert_one_refusal(f"{name}: two Content-Length headers", port, context, request, 400)
        events = [e for e in self.ca.events() if e.get("event") == "request" and e.get("path") == "/hidden-request"]
        self.assertEqual(events, [], "a hidden request was handled")

    def test_keep_alive_still_serves_requests_in_turn(self):
        for name, port, context, _, get_path in self.listeners:
            conn = RawConnection(port, context)
            try:
                for _ in range(2):
                    conn.send(f"GET {get_path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
                    status, headers, _ = conn.read_response()
                    self.assertEqual(status, 200, f"{name}: {headers}")
                    self.assertNotEqual(headers.get("connection"), "close", f"{name}: {headers}")
            finally:
                conn.close()


if __name__ == "__main__":
    unittest.main()
