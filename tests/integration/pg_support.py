"""Throwaway PostgreSQL 15 servers for the integration tests: one cluster, or a primary with a
synchronous streaming standby, each on a free loopback port in its own temporary directory.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the server programs
run as the unprivileged `postgres` user through runuser; psql, a client, runs as the caller.
Every server is stopped by the PID in its postmaster.pid, with its backends, when the test that
made it ends. A server that cannot be made fails the test with the cause and the log's tail:
nothing is skipped."""
import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from harness import free_port

DEBIAN_BINDIR = "/usr/lib/postgresql/15/bin"
SERVER_USER = "postgres"  # the OS user that runs the server when we are root
SUPERUSER = "postgres"  # the database superuser initdb makes (-U)
STANDBY_SLOT = "edgeca_standby"
START_TIMEOUT = 60  # seconds pg_ctl may take to start a server (crash recovery included)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PgUnavailable(AssertionError):
    """A PostgreSQL server the test needs could not be made; the message says why."""


def find_bindir():
    """The directory of initdb, pg_ctl and postgres: Debian's PostgreSQL 15 first, else what
    pg_config says."""
    if os.access(os.path.join(DEBIAN_BINDIR, "initdb"), os.X_OK):
        return DEBIAN_BINDIR
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30)
        bindir = result.stdout.strip()
        if result.returncode == 0 and os.access(os.path.join(bindir, "initdb"), os.X_OK):
            return bindir
    raise PgUnavailable(f"PostgreSQL server programs not found (no {DEBIAN_BINDIR}/initdb, and pg_config "
                        "names no directory with initdb): install the Debian package postgresql-15 "
                        "(scripts/install-deps.sh test)")


def multi_host_url(dbname, clusters, user=SUPERUSER):
    """A libpq URL naming every cluster, that connects to whichever accepts writes."""
    hosts = ",".join(f"127.0.0.1:{cluster.port}" for cluster in clusters)
    return f"postgresql://{user}@{hosts}/{dbname}?target_session_attrs=read-write"


def _client_env():
    """Our environment without the PG* variables that would send a client elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def _proc_stat(pid):
    """(state, ppid, pgrp) of a process, or None when it no longer exists."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def process_runs(pid):
    """True while the process runs; a zombie has exited (its parent has not reaped it yet)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


_TEMPLATE = []  # the one never-started cluster whose data directory each new cluster copies


def _template():
    if not _TEMPLATE:
        template = PgCluster(None)
        atexit.register(shutil.rmtree, template.base, True)
        template._initdb_here()
        _TEMPLATE.append(template)
    return _TEMPLATE[0]


class PgCluster:
    """One PostgreSQL server: a data directory made by initdb, listening on 127.0.0.1:`port`
    and on a unix socket in its own temporary directory."""

    def __init__(self, test=None, port=None):
        self.bindir = find_bindir()
        self.as_root = os.geteuid() == 0
        self.port = port or free_port()
        self.base = tempfile.mkdtemp(prefix="edgeca-pg-")
        if test is not None:
            test.addCleanup(shutil.rmtree, self.base, True)
            test.addCleanup(self.discard)  # runs first: the server is gone before its files
        self.data_dir = os.path.join(self.base, "data")
        self.name = os.path.basename(self.base)  # cluster_name, in every process title
        self.log_path = os.path.join(self.base, "server.log")
        try:
            self._give_to_server_user(self.base)
            if self.as_root and self._as_server_user(["test", "-w", self.base], "test -w", check=False).returncode:
                raise PgUnavailable(f"'{SERVER_USER}' cannot write {self.base}: a directory above it is closed "
                                    "to other users (set TMPDIR to a directory every user can reach, e.g. /tmp)")
        except BaseException:
            if test is None:
                shutil.rmtree(self.base, True)
            raise

    # --- making one ---------------------------------------------------------------------------

    @classmethod
    def create(cls, test=None, port=None):
        """A new cluster, started. With `test` (anything with addCleanup), the server is killed
        and its directory removed when the test ends; without, call close()."""
        cluster = cls(test, port)
        try:
            cluster._initdb()
            cluster._configure({})
            cluster.start()
        except BaseException:
            if test is None:
                cluster.close()
            raise
        return cluster

    @classmethod
    def create_primary_with_standby(cls, test=None):
        """A primary and a standby streaming from it through a replication slot, both started.
        The primary acknowledges a commit only once the standby has flushed it
        (synchronous_standby_names '*', synchronous_commit on); this returns once the standby is
        the primary's synchronous standby. The standby's own settings name no synchronous
        standby, so it accepts writes alone once promoted."""
        primary = cls(test)
        standby = None
        try:
            primary._initdb()
            primary._configure({"synchronous_standby_names": "'*'", "synchronous_commit": "on"})
            primary.start()
            standby = cls(test)
            standby._as_server_user(
                [os.path.join(standby.bindir, "pg_basebackup"), "-D", standby.data_dir, "-h", "127.0.0.1",
                 "-p", str(primary.port), "-U", SUPERUSER, "--no-password", "-X", "stream", "-c", "fast",
                 "-C", "-S", STANDBY_SLOT, "-R"],
                "pg_basebackup", timeout=120)
            standby._configure({"synchronous_standby_names": "''", "synchronous_commit": "on"})
            standby.start()
            primary.wait_for_sync_standby()
        except BaseException:
            if test is None:
                for cluster in (primary, standby):
                    if cluster is not None:
                        cluster.close()
            raise
        return primary, standby

    def _give_to_server_user(self, path):
        if self.as_root:
            try:
                entry = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PgUnavailable(f"running as root and there is no '{SERVER_USER}' user to run PostgreSQL "
                                    "as (the Debian package postgresql-15 creates it)") from None
            os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o755)

    def _as_server_user(self, argv, what, timeout=START_TIMEOUT, check=True):
        """Runs a server program as the server user, in the cluster's directory."""
        if self.as_root:
            if shutil.which("runuser") is None:
                raise PgUnavailable("running as root and runuser (util-linux) is missing: cannot start "
                                    f"PostgreSQL as '{SERVER_USER}'")
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.base,
                                    env=_client_env(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as error:
            raise PgUnavailable(f"{what} took more than {timeout}s: {argv}\n{self.log_tail()}") from error
        if check and result.returncode != 0:
            raise PgUnavailable(f"{what} exited {result.returncode}: {argv}\n{result.stdout}{result.stderr}\n"
                                f"{self.log_tail()}")
        return result

    def _initdb(self):
        """A data directory as initdb makes it: a copy of one made once per test run (initdb
        takes seconds), synced to disk as initdb would have done (fsync stays on throughout)."""
        template = _template()
        self._as_server_user(["cp", "-a", template.data_dir, self.data_dir], "copying the initdb template")
        self._as_server_user([os.path.join(self.bindir, "initdb"), "--sync-only", "-D", self.data_dir],
                             "initdb --sync-only", timeout=120)

    def _initdb_here(self):
        self._as_server_user([os.path.join(self.bindir, "initdb"), "-D", self.data_dir, "-U", SUPERUSER,
                              "-A", "trust", "-E", "UTF8", "--locale=C"], "initdb", timeout=120)

    def _configure(self, settings):
        """Writes this cluster's settings to edgeca-test.conf, included from postgresql.conf
        (a standby's copy from the primary is rewritten with its own port and socket), and a
        pg_hba.conf that trusts loopback and local connections, replication included."""
        values = {
            "cluster_name": f"'{self.name}'",
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "fsync": "on",
            "wal_level": "replica",
            "max_wal_senders": "4",
            "max_replication_slots": "4",
            "hot_standby": "on",
            "shared_buffers": "16MB",
            "max_connections": "40",
            "logging_collector": "off",
            **settings,
        }
        with open(os.path.join(self.data_dir, "edgeca-test.conf"), "w") as f:
            f.writelines(f"{name} = {value}\n" for name, value in values.items())
        conf = os.path.join(self.data_dir, "postgresql.conf")
        with open(conf) as f:
            included = "include 'edgeca-test.conf'" in f.read()
        if not included:
            with open(conf, "a") as f:
                f.write("\ninclude 'edgeca-test.conf'\n")
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host all all 127.0.0.1/32 trust\n"
                    "local replication all trust\n"
                    "host replication all 127.0.0.1/32 trust\n")
        for name in ("edgeca-test.conf", "pg_hba.conf"):
            if self.as_root:
                entry = pwd.getpwnam(SERVER_USER)
                os.chown(os.path.join(self.data_dir, name), entry.pw_uid, entry.pw_gid)

    # --- running ------------------------------------------------------------------------------

    @property
    def pid(self):
        """The postmaster's PID from postmaster.pid, or None when there is no such file."""
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running(self):
        pid = self.pid
        return pid is not None and process_runs(pid) and self.data_dir in _cmdline(pid)

    def processes(self):
        """PIDs of the postmaster, when it runs, and of every process of this cluster that still
        runs (backends, walwriter, ...: each is its own session leader, so they are found by
        parent, or by the cluster_name in their process title once orphaned)."""
        pid = self.pid
        postmaster_runs = self.running()
        found = [pid] if postmaster_runs else []
        title = f"postgres: {self.name}: "
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == pid:
                continue
            stat = _proc_stat(int(entry))
            if stat is None or stat[0] == "Z":
                continue
            if (postmaster_runs and stat[1] == pid) or _cmdline(int(entry)).startswith(title):
                found.append(int(entry))
        return found

    def start(self):
        """Starts the server (again) and waits until it accepts connections; after a kill, that
        includes crash recovery."""
        if self.running():
            raise AssertionError(f"PostgreSQL on port {self.port} is already running (pid {self.pid})")
        self._clear_stale_lock()
        self._as_server_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir, "-l", self.log_path,
                              "-w", "-t", str(START_TIMEOUT), "start"],
                             f"pg_ctl start (port {self.port})", timeout=START_TIMEOUT + 30)
        if not self.running():
            raise PgUnavailable(f"pg_ctl said PostgreSQL started on port {self.port} but no postmaster runs\n"
                                f"{self.log_tail()}")

    def _clear_stale_lock(self):
        # A killed postmaster stays a zombie until init reaps it, and PostgreSQL reads a zombie's
        # PID in its lock files as a live server. Its processes are gone (kill() waited for
        # them), so the lock files are stale: remove them, as PostgreSQL does once the PID is free.
        pid = self.pid
        if pid is None or self.running():
            return
        for lock in (os.path.join(self.data_dir, "postmaster.pid"),
                     os.path.join(self.base, f".s.PGSQL.{self.port}.lock")):
            try:
                os.unlink(lock)
            except FileNotFoundError:
                pass

    def stop(self, mode="fast"):
        """Stops the server with pg_ctl (`mode`: smart, fast or immediate); kills it by PID if it
        has not stopped within the time."""
        if not self.running():
            return
        result = self._as_server_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir, "-m", mode,
                                       "-w", "-t", "30", "stop"], f"pg_ctl stop -m {mode}", timeout=60, check=False)
        if result.returncode != 0 or self.running():
            self.kill()
            raise AssertionError(f"pg_ctl stop -m {mode} failed (exit {result.returncode}), killed instead:\n"
                                 f"{result.stdout}{result.stderr}\n{self.log_tail()}")

    def kill(self, timeout=30):
        """SIGKILL to the postmaster and to each process it started, as a crash would; returns
        once none of them runs and the port is closed. The postmaster is stopped (SIGSTOP)
        first, so that it starts no backend while its children are counted."""
        pid = self.pid
        if self.running():
            os.kill(pid, signal.SIGSTOP)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (_proc_stat(pid) or ("T",))[0] not in ("T", "Z", "X"):
                time.sleep(0.01)
        pids = self.processes()
        for target in pids:
            for send in (os.killpg, os.kill):  # each child leads its own process group
                try:
                    send(target, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(process_runs(target) for target in pids) and not self.processes() and not _port_open(self.port):
                return
            time.sleep(0.05)
        raise AssertionError(f"PostgreSQL on port {self.port} still runs {timeout}s after SIGKILL: "
                             f"{[target for target in pids if process_runs(target)]}")

    def discard(self):
        """Stops the server for good, leaving nothing of it outside its directory. A server
        killed with SIGKILL leaves its shared memory behind (segments in /dev/shm, about 1 MB a
        server, and a System V one), which only PostgreSQL itself removes: on an orderly exit, even
        an immediate one, or when the same data directory is started again. So a server that was
        killed and not started since is started once (crash recovery, under a second here); then
        `pg_ctl stop -m immediate`, or SIGKILL if that fails. A killed server is one whose
        postmaster.pid outlived it: PostgreSQL removes the file whenever it exits by itself."""
        if self.pid is not None and not self.running():
            try:
                self.start()
            except Exception as e:  # noqa: BLE001 (e.g. a data directory a test broke on purpose)
                print(f"pg_support: restarting the killed server on port {self.port} to free its shared "
                      f"memory failed: {e}", file=sys.stderr)
        if not self.running():
            return
        result = self._as_server_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir, "-m", "immediate",
                                       "-w", "-t", "30", "stop"], "pg_ctl stop -m immediate", timeout=60, check=False)
        if result.returncode != 0 or self.running():
            self.kill()

    def close(self):
        """Stops the server and removes its directory (for a cluster made without a test)."""
        self.discard()
        shutil.rmtree(self.base, True)

    def promote(self, timeout=30):
        """Promotes a standby and waits until it leaves recovery."""
        self._as_server_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir, "-w", "-t", str(timeout),
                              "promote"], "pg_ctl promote", timeout=timeout + 30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.psql("postgres", "SELECT pg_is_in_recovery()").strip() == "f":
                return
            time.sleep(0.1)
        raise AssertionError(f"the standby on port {self.port} is still in recovery {timeout}s after promotion\n"
                             f"{self.log_tail()}")

    def wait_for_sync_standby(self, timeout=30):
        """Waits until a standby streams from this primary as its synchronous standby."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.psql("postgres", "SELECT state, sync_state FROM pg_stat_replication").strip()
            if "streaming|sync" in state.splitlines():
                return
            time.sleep(0.1)
        raise AssertionError(f"no synchronous standby streams from port {self.port} after {timeout}s "
                             f"(pg_stat_replication: {state!r})\n{self.log_tail()}")

    def wait_for_replay(self, timeout=30):
        """Waits until the standbys have replayed all WAL this primary has written so far. A
        synchronous commit returns once the standby has flushed it; reading it there needs this."""
        target = self.psql("postgres", "SELECT pg_current_wal_lsn()").strip()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.psql("postgres", f"SELECT bool_and(replay_lsn >= '{target}'::pg_lsn) FROM pg_stat_replication")
            if done.strip() == "t":
                return
            time.sleep(0.05)
        raise AssertionError(f"the standbys of port {self.port} have not replayed up to {target} after {timeout}s")

    def log_tail(self, size=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f"--- {self.log_path} (tail) ---\n" + f.read().decode(errors="replace")
        except FileNotFoundError:
            return f"(no server log at {self.log_path})"

    # --- clients ------------------------------------------------------------------------------

    def url(self, dbname, user=SUPERUSER):
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def psql_path(self):
        path = os.path.join(self.bindir, "psql")
        return path if os.access(path, os.X_OK) else (shutil.which("psql") or "/usr/bin/psql")

    def psql_result(self, dbname, sql, timeout=60):
        """Runs `sql` as a script (statements one by one, stopping at the first error) over TCP;
        returns the CompletedProcess: unaligned, tuples only, '|' between columns."""
        return subprocess.run([self.psql_path(), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                               "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", dbname, "-f", "-"],
                              input=sql, capture_output=True, text=True, timeout=timeout, env=_client_env())

    def psql(self, dbname, sql, timeout=60):
        """The output of `sql` (see psql_result); fails the test when psql fails."""
        result = self.psql_result(dbname, sql, timeout)
        if result.returncode != 0:
            raise AssertionError(f"psql on port {self.port}/{dbname} exited {result.returncode} for {sql!r}:\n"
                                 f"{result.stdout}{result.stderr}")
        return result.stdout

    def create_database(self, name):
        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)
