"""Support for the crash, fault and barrage tests (test_crash_consistency.py): a read-only view
of the issuing CA's SQLite store, a reader of CRL numbers, TLS callers that follow the service
across restarts, and `edgeca serve` started with a file-size limit or inside a private mount
namespace (a small tmpfs, a read-only bind mount), none of which needs root."""
import base64
import http.client
import json
import os
import resource
import shlex
import signal
import sqlite3
import subprocess
import threading

from harness import binary, exchange, run

# What a caller sees when the service is killed under it: refused or reset connections, a TLS
# stream cut in the middle, an HTTP response that never came. ssl.SSLError and socket.timeout
# are OSErrors.
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)

SUPERSEDED = 4  # RFC 5280 reason code, as the store keeps it


def pem_to_der(pem):
    if isinstance(pem, bytes):
        pem = pem.decode()
    lines = [line for line in pem.strip().splitlines() if line and not line.startswith("-----")]
    return base64.b64decode("".join(lines))


# --- DER, just enough to read a CRL's number ----------------------------------------------------

def _tlv(data, offset):
    """(tag, content start, content end) of the DER element at `offset`."""
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return tag, start, start + length


def _children(data, start, end):
    offset = start
    while offset < end:
        tag, content_start, content_end = _tlv(data, offset)
        yield tag, content_start, content_end
        offset = content_end


CRL_NUMBER_OID = bytes.fromhex("551d14")  # 2.5.29.20


def crl_number(der):
    """The CRL Number extension of a DER CRL (None without one)."""
    _, start, end = _tlv(der, 0)  # CertificateList
    _, tbs_start, tbs_end = _tlv(der, start)  # TBSCertList
    for tag, c_start, c_end in _children(der, tbs_start, tbs_end):
        if tag != 0xA0:  # [0] EXPLICIT Extensions
            continue
        _, ext_start, ext_end = _tlv(der, c_start)
        for _, e_start, e_end in _children(der, ext_start, ext_end):
            parts = list(_children(der, e_start, e_end))
            oid = der[parts[0][1]:parts[0][2]]
            if oid != CRL_NUMBER_OID:
                continue
            _, v_start, v_end = parts[-1]  # extnValue OCTET STRING holding an INTEGER
            _, i_start, i_end = _tlv(der, v_start)
            return int.from_bytes(der[i_start:i_end], "big", signed=True)
    return None


# --- the store, read-only ---------------------------------------------------------------------

_QUERY_INSIDE = """
import json, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30)
rows = db.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()
print(json.dumps([[{"hex": v.hex()} if isinstance(v, bytes) else v for v in row] for row in rows]))
"""


def enter(pid):
    """The command prefix that runs a program in the user and mount namespaces of `pid`."""
    return ["nsenter", "--target", str(pid), "--user", "--mount"]


class StoreView:
    """Reads `issuer.db` through a read-only connection (it never checkpoints or writes).

    With `pid`, the store is read inside that process's mount namespace (nsenter): SQLite
    resolves symbolic links in a database path itself, so /proc/PID/root/... would lead it back
    to the file of the test's own namespace."""

    def __init__(self, directory, pid=None):
        self.path = os.path.join(directory, "issuer.db")
        self.pid = pid

    def query(self, sql, *args):
        if self.pid is not None:
            import sys
            result = run([*enter(self.pid), sys.executable, "-c", _QUERY_INSIDE, self.path, sql, json.dumps(args)],
                         timeout=60, check=True)
            return [tuple(bytes.fromhex(v["hex"]) if isinstance(v, dict) else v for v in row)
                    for row in json.loads(result.stdout)]
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def certificates(self):
        """{serial hex: (der, revoked_at, revocation_reason, requester, profile)}."""
        rows = self.query("SELECT serial, der, revoked_at, revocation_reason, requester, profile FROM certificates")
        return {row[0].hex(): tuple(row[1:]) for row in rows}

    def duplicate_serials(self):
        return self.query("SELECT hex(serial), count(*) FROM certificates GROUP BY serial HAVING count(*) > 1")

    def integrity(self):
        return [row[0] for row in self.query("PRAGMA integrity_check")]

    def crls(self):
        return self.query("SELECT number, this_update FROM crls ORDER BY rowid")

    def audit(self, action, outcome="ok"):
        return {row[0] for row in self.query("SELECT serial FROM audit_log WHERE action = ? AND outcome = ?",
                                             action, outcome)}

    def idempotency(self):
        """{(requester, key): serial hex}."""
        rows = self.query("SELECT i.requester, i.key, c.serial FROM idempotency_keys i "
                          "JOIN certificates c ON c.id = i.certificate_id")
        return {(r[0], r[1]): r[2].hex() for r in rows}


def audit_verify(ca, pid=None):
    """`edgeca audit --verify` on the CA's directory (inside the mount namespace of `pid`)."""
    prefix = enter(pid) if pid is not None else []
    return run([*prefix, binary("edgeca"), "audit", "--dir", ca.dir, "--verify"], timeout=60)


# --- callers ----------------------------------------------------------------------------------

class Caller:
    """An HTTPS caller with a fixed client certificate (or none): one TLS connection per request,
    to whatever port the service listens on now."""

    def __init__(self, ca, cert=None, key=None, timeout=10):
        self.ca = ca
        self.context = ca.context(cert, key)
        self.timeout = timeout

    def request(self, method, path, body=None, headers=None, raw=None, port=None,
                content_type="application/json"):
        conn = http.client.HTTPSConnection("127.0.0.1", port or self.ca.api_port, context=self.context,
                                           timeout=self.timeout)
        all_headers = dict(headers or {})
        data = json.dumps(body).encode() if body is not None else raw
        if data is not None and content_type:
            all_headers["Content-Type"] = content_type
        return exchange(conn, method, path, data, all_headers)


def error_code(payload):
    if isinstance(payload, dict):
        if "error" in payload and isinstance(payload["error"], dict):
            return payload["error"].get("code")
        if "code" in payload:
            return payload["code"]
    return None


def listen_overflows():
    """TcpExt ListenOverflows of this network namespace: SYNs dropped because a listener's
    accept queue was full (the client retransmits its SYN after 1 s)."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return None


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


# --- `edgeca serve` under a file-size limit or in a mount namespace ---------------------------

def store_file_sizes(directory):
    base = os.path.join(directory, "issuer.db")
    return {suffix: os.path.getsize(base + suffix) for suffix in ("", "-wal", "-shm")
            if os.path.exists(base + suffix)}


def user_namespaces_work():
    """Whether `unshare --user --map-root-user --mount` works here (no root needed where the
    kernel allows unprivileged user namespaces, as Debian's does)."""
    try:
        result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                                capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


class Serve:
    """`edgeca serve` for `ca` (an IssuingCA), started like IssuingCA.start() (same arguments,
    the same log file, waiting for the "listening" event), but:

    - with SIGXFSZ ignored and RLIMIT_FSIZE set (`file_size_limit`), so that writes past the
      limit fail with EFBIG as on a full disk; `set_file_size_limit` changes it while it runs;
    - or, with `mount_setup` (shell commands run as root of a new user and mount namespace before
      exec), on a file system the test controls: a small tmpfs, a read-only bind mount.

    Its output goes through a pipe to the log file, so the limit never touches the log. The CA's
    `process`, `api_port` and `public_port` are set, so IssuingCA.request and friends work."""

    def __init__(self, ca, file_size_limit=None, mount_setup=None):
        self.ca = ca
        self.file_size_limit = file_size_limit
        self.mount_setup = mount_setup
        self.process = None
        self.pump = None

    def command(self):
        serve = [binary("edgeca"), "serve", "--dir", self.ca.dir, "--passphrase-file", self.ca.passphrase_file,
                 "--listen", "127.0.0.1:0", "--public-listen", "127.0.0.1:0"]
        if self.mount_setup is None:
            return serve
        script = f"set -e\n{self.mount_setup}\nexec {shlex.join(serve)}"
        return ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private", "sh", "-c", script]

    def start(self, expect_ready=True, timeout=30):
        ca = self.ca
        before = len(ca.events()) if os.path.exists(ca.log_path) else 0
        limit = self.file_size_limit

        def preexec():
            # Only async-signal-safe work between fork and exec: no imports, no locks.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        log = open(ca.log_path, "ab")
        self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=preexec)
        ca.process = self.process
        ca.test.addCleanup(self.kill)

        def pump(stream=self.process.stdout):
            try:
                for chunk in iter(lambda: stream.read1(65536), b""):
                    log.write(chunk)
                    log.flush()
            finally:
                log.close()

        self.pump = threading.Thread(target=pump, daemon=True)
        self.pump.start()
        if expect_ready:
            event = ca.wait_for_event("listening", timeout=timeout, after=before)
            ca.api_port = int(event["api"].rsplit(":", 1)[1])
            ca.public_port = int(event["public"].rsplit(":", 1)[1])
        return self.process

    def set_file_size_limit(self, soft):
        """Lowers or raises RLIMIT_FSIZE of the running service (None: unlimited)."""
        value = resource.RLIM_INFINITY if soft is None else soft
        resource.prlimit(self.process.pid, resource.RLIMIT_FSIZE, (value, resource.RLIM_INFINITY))

    def view(self, path):
        """`path` as the service sees it (through its mount namespace), for open() and unlink();
        not for SQLite (see StoreView)."""
        return f"/proc/{self.process.pid}/root{path}"

    def wait_exit(self, timeout=30):
        code = self.process.wait(timeout=timeout)
        self.pump.join(timeout=10)
        return code

    def stop(self, timeout=30):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        if self.pump is not None:
            self.pump.join(timeout=10)

    def output(self):
        with open(self.ca.log_path, "rb") as f:
            return f.read().decode(errors="replace")


def fill_file_system(path, chunk=1 << 16):
    """Writes `path` until the file system is full (ENOSPC); returns the bytes written."""
    import errno
    written = 0
    with open(path, "wb", buffering=0) as f:
        for size in (chunk, 4096, 512, 1):
            while True:
                try:
                    n = f.write(b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
                written += n or 0
                if written > 1 << 30:
                    raise AssertionError("the file system did not fill up within 1 GiB")
    return written
