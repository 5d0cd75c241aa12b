"""Shared pieces of the integration tests: temporary directories, running the real binaries,
and test-time keys and CSRs made with OpenSSL. Every key is generated when the tests run."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

BUILD_DIR = os.environ.get("EDGECA_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
ROOT_PASSPHRASE = "test-only root passphrase 1"
ISSUER_PASSPHRASE = "test-only issuer passphrase 1"


def binary(name):
    return os.path.join(BUILD_DIR, "cli", name)


def run(args, *, env=None, input=None, timeout=120, cwd=None, check=False):
    """Runs a command with a bounded time; returns the CompletedProcess (text mode)."""
    full_env = dict(os.environ)
    for key in ("EDGECA_ROOT_PASSPHRASE", "EDGECA_PASSPHRASE"):
        full_env.pop(key, None)
    if env:
        full_env.update(env)
    result = subprocess.run(args, env=full_env, input=input, capture_output=True, text=True,
                            timeout=timeout, cwd=cwd, stdin=None if input is not None else subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def on_terminal(argv, respond, timeout=60):
    """Runs argv on a pseudo-terminal, with no passphrase in its environment, as a person at a
    terminal would. After each read, respond(output so far) returns the text to type, or None.
    Returns (exit code, everything the program wrote)."""
    import pty
    import select
    import time
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, {k: v for k, v in os.environ.items() if "PASSPHRASE" not in k})
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            typed = respond(output)
            if typed is not None:
                os.write(fd, typed.encode())
    finally:
        if time.monotonic() >= deadline:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output


def openssl(*args, **kwargs):
    return run(["openssl", *args], check=kwargs.pop("check", True), **kwargs)


class Workspace:
    """Files of one test (or one class of tests) in a temporary directory."""

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, content, mode=0o600):
        path = self.path(name)
        with open(path, "w" if isinstance(content, str) else "wb") as f:
            f.write(content)
        os.chmod(path, mode)
        return path

    def make_key_and_csr(self, name, subject="/CN=test", newkey="rsa:2048", extra=()):
        """A key and CSR made by `openssl req`, as a device or a hub would make them."""
        key = self.path(f"{name}.key")
        csr = self.path(f"{name}.csr")
        openssl("req", "-new", "-newkey", newkey, "-nodes", "-keyout", key, "-subj", subject,
                "-out", csr, *extra)
        return key, csr

    def assertExit(self, result, code, message_part=None):
        if result.returncode != code:
            raise AssertionError(f"expected exit {code}, got {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
        if message_part is not None and message_part not in result.stderr + result.stdout:
            raise AssertionError(f"'{message_part}' not in output\nstdout: {result.stdout}\nstderr: {result.stderr}")


class TempDirTestCase(Workspace, unittest.TestCase):
    """A test with its own temporary directory, removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="edgeca-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)


class SharedWorkspace(Workspace):
    """A workspace that lives for a whole test class (setUpClass to tearDownClass)."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="edgeca-it-")
        self._cleanups = []

    def addCleanup(self, function, *args):
        self._cleanups.append((function, args))

    def assertEqual(self, a, b, message=None):
        if a != b:
            raise AssertionError(f"{a!r} != {b!r}: {message}")

    def close(self):
        for function, args in reversed(self._cleanups):
            function(*args)
        shutil.rmtree(self.tmp, True)


class RootCeremony:
    """An offline root made with the real edgeca-root in its own directory."""

    def __init__(self, test, subject="CN=Test-only Root CA,O=edgeca tests,C=CN", days=3650, name="root", extra=()):
        self.test = test
        self.dir = test.path(name)
        self.passphrase_file = test.write(f"{name}.pass", ROOT_PASSPHRASE + "\n")
        self.init_result = run([binary("edgeca-root"), "init", "--dir", self.dir, "--subject", subject,
                                "--validity-days", str(days), "--passphrase-file", self.passphrase_file, *extra])
        test.assertExit(self.init_result, 0)
        self.certificate = os.path.join(self.dir, "root.pem")

    def root(self, *args, passphrase=True):
        command = [binary("edgeca-root"), *args]
        if passphrase:
            command += ["--passphrase-file", self.passphrase_file]
        return run(command)

    def sign_intermediate(self, csr, out, *extra):
        return self.root("sign-intermediate", "--dir", self.dir, "--csr", csr, "--out", out, *extra)

    def list_serials(self):
        result = self.root("list", "--dir", self.dir, passphrase=False)
        self.test.assertExit(result, 0)
        return [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()]


def exchange(conn, method, path, data, headers):
    """Sends one request on `conn` and closes it; returns (status, lower-cased headers, parsed JSON
    when the response says it is JSON, else bytes)."""
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        response_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    if response_headers.get("content-type", "").startswith("application/json"):
        payload = json.loads(payload)
    return response.status, response_headers, payload


def assert_crl_signed_by(path, cafile, der=False):
    """`openssl crl -CAfile` exits 0 even when the signature fails (OpenSSL 3.0): read its verdict."""
    result = run(["openssl", "crl", "-in", path, "-noout", "-CAfile", cafile, *(["-inform", "DER"] if der else [])])
    verdict = result.stdout + result.stderr
    if "verify OK" not in verdict:
        raise AssertionError(f"the CRL {path} does not verify under {cafile}: {verdict}")


def x509_text(path):
    return openssl("x509", "-in", path, "-noout", "-text").stdout


def extension_block(text):
    """The X509v3 extensions of `openssl x509 -text` as {name: (critical, value)}."""
    match = re.search(r"X509v3 extensions:\n(.*?)\n    Signature Algorithm", text, re.S)
    if not match:
        return {}
    extensions = {}
    current = None
    for line in match.group(1).splitlines():
        header = re.match(r"^ {12}(\S.*?):( critical)?\s*$", line)
        if header:
            current = header.group(1)
            extensions[current] = [bool(header.group(2)), ""]
        elif current:
            extensions[current][1] += line.strip() + "\n"
    return {k: (v[0], v[1].strip()) for k, v in extensions.items()}


def has_command(name):
    return shutil.which(name) is not None


def faketime_env(offset):
    """The environment that runs a program under libfaketime with its clock moved by `offset`
    (e.g. "+3d"), moving on from there. libfaketime keeps shared memory (/dev/shm/faketime_shm_*)
    that it removes only when the program exits cleanly: stop what it runs with SIGTERM."""
    library = None
    for candidate in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                      "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"):
        if os.path.exists(candidate):
            library = candidate
            break
    if library is None:
        listed = run(["sh", "-c", "dpkg -L libfaketime 2>/dev/null | grep 'libfaketime.so.1$' | head -n 1"])
        library = listed.stdout.strip()
    if not library:
        raise AssertionError("libfaketime.so.1 not found (Debian's libfaketime package); "
                             "scripts/install-deps.sh installs it")
    return {"LD_PRELOAD": library, "FAKETIME": offset, "FAKETIME_DONT_RESET": "1"}


def free_port():
    """A loopback port free right now, for a listener whose URL must be known before it starts.
    Under run.py --jobs N, worker I takes only ports of the blocks of 16 whose number modulo N is I
    (EDGECA_TEST_WORKER="I/N"), so that two workers never pick the same port. (Blocks, not
    residues: Linux gives bind() odd ports only.)"""
    import socket
    index, count = (int(n) for n in os.environ.get("EDGECA_TEST_WORKER", "0/1").split("/"))
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if (port // 16) % count == index:
            return port
    raise AssertionError(f"no free loopback port in block {index} modulo {count} in 1,000 tries")


import http.client
import json
import signal
import ssl
import time


def _kill_process(process):
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


class IssuingCA:
    """A root made by edgeca-root and an issuing CA made by edgeca init/install, in `test`'s
    temporary directory, optionally served by a real `edgeca serve` on free loopback ports."""

    def __init__(self, test, config=None, root=None, name="issuer", env=None):
        """`env` is added to the environment of every edgeca command and of serve (e.g.
        EDGECA_STORE_URL for a store on PostgreSQL)."""
        self.test = test
        self.env = dict(env or {})
        self.ceremony = root or RootCeremony(test)
        self.dir = test.path(name)
        self.passphrase_file = test.write(f"{name}.pass", ISSUER_PASSPHRASE + "\n")
        check = lambda r: test.assertExit(r, 0)
        check(self.edgeca("init", "--subject", "CN=Test-only Issuing CA,O=edgeca tests,C=CN", passphrase=True))
        self.certificate = test.path(f"{name}-cert.pem")
        check(self.ceremony.sign_intermediate(os.path.join(self.dir, "issuer.csr"), self.certificate))
        check(self.edgeca("install", "--cert", self.certificate, "--root", self.ceremony.certificate))
        self.root_pem = self.ceremony.certificate
        self.chain_pem = os.path.join(self.dir, "chain.pem")
        if config is not None:
            with open(os.path.join(self.dir, "edgeca.toml"), "w") as f:
                f.write(config)
        self.process = None
        self.log_path = test.path(f"{name}-serve.log")
        self.principals = {}  # certificate path -> the principal the CA assigned at enrolment

    def edgeca(self, command, *args, passphrase=False, **kwargs):
        full = [binary("edgeca"), *command.split(), "--dir", self.dir, *args]
        if passphrase:
            full += ["--passphrase-file", self.passphrase_file]
        kwargs["env"] = {**getattr(self, "env", {}), **(kwargs.get("env") or {})}
        return run(full, **kwargs)

    def another_node(self, name):
        """Another node of the same CA: a copy of this data directory (key, certificates,
        settings, and so the same store URL) under `name`, named `name` in /healthz and
        /metrics. Only meaningful for a store on a server."""
        import copy
        other = copy.copy(self)
        other.dir = self.test.path(name)
        shutil.copytree(self.dir, other.dir, ignore=shutil.ignore_patterns("issuer.db*", "tls", "crl"))
        other.env = {**self.env, "EDGECA_NODE_NAME": name}
        other.process = None
        other.log_path = self.test.path(f"{name}-serve.log")
        return other

    # --- the service -------------------------------------------------------------------------

    def start(self, *extra, expect_ready=True, public_listen="127.0.0.1:0", env=None, wrapper=()):
        """Starts `edgeca serve`; `env` adds to the environment (e.g. libfaketime's); `wrapper`
        is a command that runs it (e.g. chrt)."""
        self.events_before_start = len(self.events()) if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*wrapper, binary("edgeca"), "serve", "--dir", self.dir, "--passphrase-file", self.passphrase_file,
             "--listen", "127.0.0.1:0", "--public-listen", public_listen, *extra],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
            env={**os.environ, **getattr(self, "env", {}), **(env or {})})
        self.test.addCleanup(_kill_process, self.process)  # this one, even if another is started later
        if expect_ready:
            event = self.wait_for_event("listening", after=self.events_before_start)
            self.api_port = int(event["api"].rsplit(":", 1)[1])
            self.public_port = int(event["public"].rsplit(":", 1)[1])
            self.listening = event
        return self.process

    def events(self):
        with open(self.log_path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def wait_for_event(self, name, timeout=30, after=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events()[after:] if e.get("event") == name]
            if found:
                return found[0]
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.05)
        with open(self.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        raise AssertionError(f"edgeca serve did not log '{name}'; exit={self.process and self.process.poll()}\n{log[-3000:]}")

    def stop(self, timeout=30):
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.log.close()

    def kill(self):
        if self.process is not None:
            _kill_process(self.process)

    # --- clients -----------------------------------------------------------------------------

    def context(self, cert=None, key=None):
        context = ssl.create_default_context(cafile=self.root_pem)
        if cert:
            context.load_cert_chain(cert, key)
        return context

    def request(self, method, path, body=None, cert=None, key=None, headers=None, token=None,
                content_type="application/json", raw=None, port=None, tls=True):
        """One HTTP request; returns (status, headers, parsed JSON or bytes)."""
        if tls:
            conn = http.client.HTTPSConnection("127.0.0.1", port or self.api_port,
                                               context=self.context(cert, key), timeout=60)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port or self.public_port, timeout=60)
        all_headers = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and content_type:
            all_headers["Content-Type"] = content_type
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        return exchange(conn, method, path, data, all_headers)

    def token(self, role="hub", ttl="1h"):
        result = self.edgeca("token create", "--role", role, "--ttl", ttl)
        self.test.assertExit(result, 0)
        return result.stdout.strip()

    def enroll(self, name, profile="hub", role="hub", dns="localhost"):
        """A key and CSR made with OpenSSL, certified with a one-time token: (cert, key)."""
        extra = ["-addext", f"subjectAltName=DNS:{dns}"] if profile == "hub" else []
        key, csr = self.test.make_key_and_csr(name, f"/CN={name}", extra=extra)
        status, _, body = self.request("POST", "/v1/certificates", {"csr": open(csr).read(), "profile": profile},
                                       token=self.token(role))
        self.test.assertEqual(status, 201, body)
        cert = self.test.path(f"{name}.pem")
        with open(cert, "w") as f:
            f.write(body["certificate"])
        self.principals[cert] = body.get("principal")
        return cert, key

    def admin(self):
        if not hasattr(self, "_admin"):
            self._admin = self.enroll("admin-tool", profile="client", role="admin")
        return self._admin

    def add_product(self, product_key="P1", **fields):
        cert, key = self.admin()
        status, _, body = self.request("POST", "/v1/products", {"product_key": product_key, **fields}, cert=cert, key=key)
        self.test.assertEqual(status, 201, body)

    def edge_certificate(self, hub, device_key, product_key="P1", cn=None, **extra):
        """Registers the device (if new) as the hub, and asks for its certificate with a CSR made
        by OpenSSL: returns (status, body, key path)."""
        cert, key = hub
        self.request("POST", "/v1/devices", {"product_key": product_key, "device_key": device_key}, cert=cert, key=key)
        edge_key, csr = self.test.make_key_and_csr(f"edge-{device_key}", f"/CN={cn or device_key}")
        status, _, body = self.request("POST", "/v1/certificates",
                                       {"csr": open(csr).read(), "profile": "edge", "product_key": product_key,
                                        "device_key": device_key, **extra}, cert=cert, key=key)
        return status, body, edge_key

    def serials_in_store(self):
        import sqlite3
        db = sqlite3.connect(os.path.join(self.dir, "issuer.db"))
        try:
            return [row[0].hex() for row in db.execute("SELECT serial FROM certificates")]
        finally:
            db.close()


SERVICE_CONFIG = """
[profiles.hub]
allowed_domains = ["localhost", "hub.test.example"]
"""


class StaticServer:
    """A plain HTTP server on loopback answering GET PATH with files[PATH] (bytes; else 404).
    `files` may change while it serves. A context manager; close() stops it."""

    def __init__(self, files):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                if body is not None:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
