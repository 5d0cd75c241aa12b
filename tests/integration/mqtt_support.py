"""Mosquitto as the hub's MQTT broker and mosquitto_pub/mosquitto_sub as its clients, for the
mutual-TLS tests of flow 3. Every process is started by the test, bounded in time and killed at
cleanup; the broker never runs as the system service."""
import os
import pwd
import re
import signal
import socket
import subprocess
import time

from harness import free_port, run

# mosquitto 2.0's `tls_version tlsv1.2` is a minimum for a listener (a TLS 1.3 client still gets
# in), so the broker's OpenSSL is also capped at TLS 1.2 through its configuration file.
TLS_1_2_ONLY_OPENSSL_CONF = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_configuration
[ssl_configuration]
system_default = tls_1_2_only
[tls_1_2_only]
MinProtocol = TLSv1.2
MaxProtocol = TLSv1.2
"""

CLIENT_TIMEOUT = 15


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    """One mosquitto on 127.0.0.1 acting for the hub: TLS 1.2, a client certificate required and
    checked against `cafile` and `crlfile`, the certificate's CN taken as the user name."""

    def __init__(self, test, *, cafile, certfile, keyfile, crlfile, name="broker"):
        self.test = test
        self.name = name
        self.port = free_port()
        self.crlfile = crlfile
        self.log_path = test.path(f"{name}.log")
        self.openssl_conf = test.write(f"{name}-openssl.cnf", TLS_1_2_ONLY_OPENSSL_CONF, mode=0o644)
        # When the tests run as root, mosquitto would switch to the `mosquitto` user, who cannot
        # read the test's private directory: it stays the user that runs the tests.
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.config = test.write(f"{name}.conf", "\n".join([
            f"user {user}",
            "per_listener_settings true",
            "log_dest stderr",
            "log_type all",
            "connection_messages true",
            f"listener {self.port} 127.0.0.1",
            f"cafile {cafile}",
            f"certfile {certfile}",
            f"keyfile {keyfile}",
            "require_certificate true",
            "use_identity_as_username true",
            "tls_version tlsv1.2",
            f"crlfile {crlfile}",
            "allow_anonymous false",
            "",
        ]))
        self.process = None
        self.log = None

    def start(self, timeout=10):
        self.log = open(self.log_path, "ab")
        env = dict(os.environ, OPENSSL_CONF=self.openssl_conf)
        self.process = subprocess.Popen(["mosquitto", "-c", self.config], stdout=self.log, stderr=self.log,
                                        stdin=subprocess.DEVNULL, env=env)
        self.test.addCleanup(self.kill)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mosquitto exited {self.process.returncode}:\n{self.log_text()[-3000:]}")
            if port_accepts(self.port):
                return self
            time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout}s:\n"
                             f"{self.log_text()[-3000:]}")

    def restart(self):
        """Stops and starts the broker on the same port, so it reads its CRL file afresh."""
        self.stop()
        return self.start()

    def reload(self, timeout=10):
        """SIGHUP: mosquitto re-reads its configuration, certificates and CRL file."""
        reloads = self.log_text().count("Reloading config")
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.log_text().count("Reloading config") == reloads:
            if time.monotonic() > deadline:
                raise AssertionError(f"mosquitto did not log a reload within {timeout}s:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self, timeout=10):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.log is not None:
            self.log.close()
            self.log = None

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.log is not None:
            self.log.close()
            self.log = None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_size(self):
        return len(self.log_text())

    def wait_for_log(self, pattern, timeout=10, since=0):
        """The first match of `pattern` in the broker's log (from character `since` on), polled for
        at most `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log_text()[since:])
            if match:
                return match
            time.sleep(0.05)
        raise AssertionError(f"'{pattern}' not in the broker's log within {timeout}s:\n{self.log_text()[-3000:]}")

    def connected_as(self, client_id):
        """The user name the broker took from the client's certificate, or None if the client
        never got past the handshake."""
        match = re.search(rf"New client connected from \S+ as {re.escape(client_id)} \(.*?u'([^']*)'\)",
                          self.log_text())
        return match.group(1) if match else None


class MqttIdentity:
    """mosquitto_pub/mosquitto_sub options for one party: what it trusts, the certificate it
    presents (if any), and the name it dials."""

    def __init__(self, cafile, cert=None, key=None, host="localhost", insecure=False, tls_version="tlsv1.2"):
        self.cafile, self.cert, self.key = cafile, cert, key
        self.host, self.insecure, self.tls_version = host, insecure, tls_version

    def options(self, broker, client_id):
        options = ["-h", self.host, "-p", str(broker.port), "-i", client_id, "--cafile", self.cafile,
                   "--tls-version", self.tls_version]
        if self.cert:
            options += ["--cert", self.cert, "--key", self.key]
        if self.insecure:
            options.append("--insecure")
        return options

    def publish(self, broker, client_id, topic, message, qos=1):
        """Publishes one message; -d puts the client's TLS errors (and its MQTT exchange) in the output."""
        return run(["mosquitto_pub", "-d", *self.options(broker, client_id), "-t", topic, "-m", message,
                    "-q", str(qos)], timeout=CLIENT_TIMEOUT)

    def subscribe(self, test, broker, client_id, topic, wait_seconds=10, qos=1):
        """A mosquitto_sub that exits after one message or `wait_seconds`; returned once the broker
        has acknowledged its subscription."""
        process = subprocess.Popen(["mosquitto_sub", *self.options(broker, client_id), "-t", topic, "-q", str(qos),
                                    "-v", "-C", "1", "-W", str(wait_seconds)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        subscription = Subscription(process, wait_seconds)
        test.addCleanup(subscription.kill)
        broker.wait_for_log(rf"(?m)Sending SUBACK to {re.escape(client_id)}$")
        return subscription


class Subscription:
    def __init__(self, process, wait_seconds):
        self.process = process
        self.wait_seconds = wait_seconds

    def result(self):
        """(exit code, stdout, stderr) once mosquitto_sub has ended (bounded by its -W)."""
        try:
            stdout, stderr = self.process.communicate(timeout=self.wait_seconds + 5)
        except subprocess.TimeoutExpired:
            self.kill()
            stdout, stderr = self.process.communicate(timeout=5)
        return self.process.returncode, stdout, stderr

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
