"""The throwaway PostgreSQL servers of pg_support, used for real: a committed row survives a
SIGKILL of the server; with a synchronous standby, a commit waits for the standby, and after
the primary is killed the promoted standby holds every acknowledged commit and takes writes; a server that cannot
start fails with the cause from its log."""
import os
import socket
import subprocess
import time
import unittest

from pg_support import PgCluster, PgUnavailable, multi_host_url, process_runs


def mapped_shared_memory(pids):
    """The /dev/shm files that the processes `pids` have mapped."""
    found = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as maps:
                found.update(line.split()[-1] for line in maps if " /dev/shm/PostgreSQL." in line)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def system_v_segments():
    """The ids of the machine's System V shared memory segments."""
    with open("/proc/sysvipc/shm") as table:
        return {int(line.split()[1]) for line in list(table)[1:]}


def refuses_connections(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


class PgSupportTest(unittest.TestCase):

    def test_committed_row_survives_sigkill(self):
        cluster = PgCluster.create(self)
        cluster.create_database("edgeca")
        cluster.psql("edgeca", "CREATE TABLE issued (serial text PRIMARY KEY); INSERT INTO issued VALUES ('01ab')")
        processes = cluster.processes()
        self.assertGreaterEqual(len(processes), 3, "a postmaster with its checkpointer, walwriter, ...")
        postmaster = cluster.pid

        cluster.kill()
        self.assertEqual([pid for pid in processes if process_runs(pid)], [], "no process of the server runs")
        self.assertTrue(refuses_connections(cluster.port))

        cluster.start()
        self.assertNotEqual(cluster.pid, postmaster)
        self.assertIn("automatic recovery in progress", cluster.log_tail(20000))
        self.assertEqual(cluster.psql("edgeca", "SELECT serial FROM issued").split(), ["01ab"])

    def test_synchronous_standby_holds_every_commit_and_takes_over(self):
        primary, standby = PgCluster.create_primary_with_standby(self)
        self.assertEqual(primary.psql("postgres", "SELECT state, sync_state FROM pg_stat_replication").split(),
                         ["streaming|sync"])
        self.assertEqual(standby.psql("postgres", "SELECT pg_is_in_recovery()").strip(), "t")
        primary.create_database("edgeca")
        primary.psql("edgeca", "CREATE TABLE issued (serial text PRIMARY KEY); INSERT INTO issued VALUES ('02cd')")
        primary.wait_for_replay()
        self.assertEqual(standby.psql("edgeca", "SELECT serial FROM issued").split(), ["02cd"])
        refused = standby.psql_result("edgeca", "INSERT INTO issued VALUES ('ff')")
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("read-only transaction", refused.stderr)

        # With the standby down, a commit on the primary is not acknowledged; it is once the
        # standby is back and has flushed it.
        standby.kill()
        writer = subprocess.Popen([primary.psql_path(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                   primary.url("edgeca"), "-c", "INSERT INTO issued VALUES ('04aa')"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: writer.poll() is None and (writer.kill(), writer.wait(10)))
        with self.assertRaises(subprocess.TimeoutExpired, msg="the commit returned with no standby"):
            writer.wait(timeout=2)
        standby.start()
        _, err = writer.communicate(timeout=30)
        self.assertEqual(writer.returncode, 0, err)

        # The primary dies: the promoted standby holds every acknowledged commit and takes writes.
        primary.kill()
        standby.promote()
        self.assertEqual(standby.psql("edgeca", "SELECT serial FROM issued ORDER BY serial").split(), ["02cd", "04aa"])
        standby.psql("edgeca", "INSERT INTO issued VALUES ('05ef')")
        self.assertEqual(standby.psql("edgeca", "SELECT count(*) FROM issued").strip(), "3")

        # libpq, given both hosts, skips the dead primary and lands on the one that takes writes.
        url = multi_host_url("edgeca", [primary, standby])
        self.assertEqual(url, f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/edgeca"
                              "?target_session_attrs=read-write")
        result = subprocess.run([standby.psql_path(), "-X", "-A", "-t", url, "-c", "SELECT inet_server_port()"],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual((result.returncode, result.stdout.strip()), (0, str(standby.port)), result.stderr)

    def test_a_killed_server_leaves_no_shared_memory_once_discarded(self):
        cluster = PgCluster.create(self)
        cluster.create_database("edgeca")
        segments = mapped_shared_memory(cluster.processes())
        self.assertTrue(segments, "PostgreSQL 15 maps segments of /dev/shm (dynamic_shared_memory_type posix)")
        # postmaster.pid's seventh line: the System V segment's key and id.
        system_v = int(open(os.path.join(cluster.data_dir, "postmaster.pid")).read().splitlines()[6].split()[1])
        self.assertIn(system_v, system_v_segments())

        cluster.kill()
        self.assertEqual([path for path in segments if not os.path.exists(path)], [],
                         "SIGKILL leaves the segments behind, which is what discard() is for")
        self.assertIn(system_v, system_v_segments())
        cluster.discard()
        self.assertFalse(cluster.running())
        self.assertEqual([path for path in segments if os.path.exists(path)], [])
        self.assertNotIn(system_v, system_v_segments())
        self.assertEqual(mapped_shared_memory(cluster.processes()), set())

        cluster.start()  # an orderly stop leaves nothing either
        segments = mapped_shared_memory(cluster.processes())
        self.assertTrue(segments)
        cluster.discard()
        self.assertEqual([path for path in segments if os.path.exists(path)], [])

    def test_server_that_cannot_start_fails_with_its_log(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            started = time.monotonic()
            with self.assertRaises(PgUnavailable) as caught:
                PgCluster.create(self, port=port)
        message = str(caught.exception)
        self.assertIn("pg_ctl start", message)
        self.assertIn("Address already in use", message)
        self.assertLess(time.monotonic() - started, 90)


if __name__ == "__main__":
    unittest.main()
