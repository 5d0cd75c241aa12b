"""`edgeca quickstart`: a new user's first command. It must make a development PKI without
questions, start the service, print next steps that work as printed, and on a second run start
the same CA."""
import os
import re
import stat
import subprocess
import time
import urllib.request

from harness import TempDirTestCase, binary, free_port, openssl, run


class QuickstartTest(TempDirTestCase):
    def start(self, api_port, public_port):
        out = open(self.path("quickstart.out"), "w")
        err = open(self.path("quickstart.err"), "w")
        process = subprocess.Popen([binary("edgeca"), "quickstart", "--dir", self.path("pki"),
                                    "--listen", f"127.0.0.1:{api_port}", "--public-listen", f"127.0.0.1:{public_port}"],
                                   stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   env={k: v for k, v in os.environ.items() if "PASSPHRASE" not in k})
        self.addCleanup(lambda: process.poll() is None and (process.kill(), process.wait()))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(self.path("quickstart.err")) as f:
                if '"event":"listening"' in f.read():
                    break
            self.assertIsNone(process.poll(), open(self.path("quickstart.err")).read())
            time.sleep(0.1)
        else:
            self.fail("quickstart did not start the service")
        with open(self.path("quickstart.out")) as f:
            return process, f.read()

    def printed_commands(self, text):
        body = text.split("In another terminal:", 1)[1].split("More:", 1)[0]
        return [line for line in body.splitlines() if line.strip() and not line.startswith("#")]

    def test_quickstart_brings_up_a_ca_whose_printed_steps_work_and_restarts_it(self):
        api_port, public_port = free_port(), free_port()
        process, text = self.start(api_port, public_port)
        pki = self.path("pki")
        for name in ("root-passphrase.DEVELOPMENT-ONLY.txt", "issuer-passphrase.DEVELOPMENT-ONLY.txt", "hub-token.txt",
                     "admin/admin.key", "root/root.key", "issuer/issuer.key"):
            mode = stat.S_IMODE(os.stat(os.path.join(pki, name)).st_mode)
            self.assertEqual(mode, 0o600, name)
        with open(os.path.join(pki, "root-passphrase.DEVELOPMENT-ONLY.txt")) as f:
            self.assertIn("DEVELOPMENT ONLY", f.read())
        # The root was made by edgeca-root: its store records its own ceremony.
        audit = run([binary("edgeca-root"), "audit", "--dir", os.path.join(pki, "root"), "--verify"])
        self.assertEqual(audit.returncode, 0, audit.stderr)
        self.assertRegex(audit.stdout, r"init\s+ok")
        self.assertRegex(audit.stdout, r"sign-intermediate\s+ok")
        # The issuing CA names the root CRL's URL, and the service serves that CRL there: a
        # verifier that fetches CRLs (Java's PKIX) can check the whole path.
        issuer_text = openssl("x509", "-in", os.path.join(pki, "issuer", "issuer.pem"), "-noout", "-text").stdout
        self.assertIn(f"URI:http://127.0.0.1:{public_port}/root.crl", issuer_text)
        with urllib.request.urlopen(f"http://127.0.0.1:{public_port}/root.crl", timeout=30) as response:
            root_crl = self.write("served-root.crl", response.read())
        verdict = openssl("crl", "-in", root_crl, "-inform", "DER", "-noout", "-CAfile",
                          os.path.join(pki, "root", "root.pem"))
        self.assertIn("verify OK", verdict.stdout + verdict.stderr)

        commands = self.printed_commands(text)
        self.assertGreaterEqual(len(commands), 7, text)
        for command in commands:
            result = run(["bash", "-c", command], timeout=120)
            self.assertEqual(result.returncode, 0, f"printed step failed: {command}\n{result.stdout}\n{result.stderr}")
        # What the steps did, checked independently.
        edge = os.path.join(pki, "edge-SN-0001", "edge.pem")
        openssl("verify", "-CAfile", os.path.join(pki, "root", "root.pem"), "-untrusted",
                os.path.join(pki, "issuer", "issuer.pem"), "-purpose", "sslclient", edge)
        listing = run([binary("edgeca"), "list", "--dir", os.path.join(pki, "issuer"), "--device-key", "SN-0001"]).stdout
        self.assertRegex(listing, r"edge\s+revoked")

        process.terminate()
        self.assertEqual(process.wait(timeout=30), 0)
        first_root = open(os.path.join(pki, "root", "root.pem")).read()
        # Again on the same directory: the same CA starts, nothing is made anew but a spent token.
        process, text = self.start(free_port(), free_port())
        self.assertEqual(open(os.path.join(pki, "root", "root.pem")).read(), first_root)
        self.assertIn("holds a CA already; starting it", open(self.path("quickstart.err")).read())
        self.assertNotIn("root key ceremony", open(self.path("quickstart.err")).read())
        process.terminate()
        self.assertEqual(process.wait(timeout=30), 0)
