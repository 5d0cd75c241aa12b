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


def openssl(*args, **kwargs):
    return run(["openssl", *args], check=kwargs.pop("check", True), **kwargs)


class TempDirTestCase(unittest.TestCase):
    """A test with its own temporary directory, removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="edgeca-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

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
        self.assertEqual(result.returncode, code,
                         f"expected exit {code}, got {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
        if message_part is not None:
            self.assertIn(message_part, result.stderr + result.stdout)


class RootCeremony:
    """An offline root made with the real edgeca-root in its own directory."""

    def __init__(self, test, subject="CN=Test-only Root CA,O=edgeca tests,C=CN", days=3650, name="root"):
        self.test = test
        self.dir = test.path(name)
        self.passphrase_file = test.write(f"{name}.pass", ROOT_PASSPHRASE + "\n")
        self.init_result = run([binary("edgeca-root"), "init", "--dir", self.dir, "--subject", subject,
                                "--validity-days", str(days), "--passphrase-file", self.passphrase_file])
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
