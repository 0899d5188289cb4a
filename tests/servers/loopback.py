# loopback.py - what the fixtures of the loopback test servers share (awssrv, gcpsrv, vaultsrv,
# s3srv): start a server program of this folder with a temp state dir, wait for it to write its
# port there, talk to its control API (/_control), show its log when a test fails, stop it.
"""class XServer(LoopbackServer): NAME, SCRIPT, PREFIX; started() reads what else it wrote."""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class ControlError(Exception):
    pass


class LoopbackServer:
    NAME = "test"        # in messages: "AWS test server exited during startup"
    SCRIPT = None        # the server program, in this folder
    PREFIX = "p11kms-srv."
    PORT_FILES = ("port",)  # removed before a start; the first one says it is up
    STARTUP_POLLS = 600  # of 0.1 s: a startup wait, not a timed assertion

    def __init__(self, python=None, state_dir=None):
        """state_dir: reuse a directory (kept on stop) to test persistence across restarts."""
        self.python = python or sys.executable
        self.state_dir = state_dir
        self.own_state = state_dir is None
        self.proc = None
        self.port = None

    def server_args(self):
        """Arguments after --state-dir DIR."""
        return []

    def started(self):
        """Called once the port is known: read what else the server wrote, set addresses."""

    def path(self, name):
        """A file of the state dir."""
        return os.path.join(self.state_dir, name)

    def start(self):
        if self.state_dir is None:
            self.state_dir = tempfile.mkdtemp(prefix=self.PREFIX)
        self.log_path = self.path("server.log")
        for name in self.PORT_FILES:
            if os.path.exists(self.path(name)):
                os.unlink(self.path(name))
        argv = [self.python, os.path.join(HERE, self.SCRIPT), "--state-dir", self.state_dir]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv + self.server_args(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        port_file = self.path(self.PORT_FILES[0])
        for _ in range(self.STARTUP_POLLS):
            if os.path.exists(port_file):
                with open(port_file, encoding="ascii") as f:
                    self.port = int(f.read().strip())
                break
            if self.proc.poll() is not None:
                raise RuntimeError("%s test server exited during startup:\n%s"
                                   % (self.NAME, self.log()))
            time.sleep(0.1)
        else:
            raise RuntimeError("%s test server did not write its port" % self.NAME)
        self.started()
        return self

    def stop(self, keep_log=False):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.state_dir and self.own_state and not keep_log and \
                not os.environ.get("P11KMS_KEEP_STATE"):
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not SystemExit or \
                (exc_type is SystemExit and exc.code not in (0, 77, None)):
            sys.stdout.write("# ---- %s test server log (last 60 lines) ----\n" % self.NAME)
            for line in self.log().splitlines()[-60:]:
                sys.stdout.write("# %s\n" % line)
        self.stop()
        return False

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ctl(self, method, path, body=None):
        """Control API call (path relative to /_control); the decoded JSON answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, "/_control" + path, body=data,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read().decode())
        finally:
            conn.close()
        if resp.status >= 400:
            raise ControlError("%s %s -> %d %s" % (method, path, resp.status, answer))
        return answer

    def counters(self):
        return self.ctl("GET", "/counters")

    def requests(self):
        return self.ctl("GET", "/requests")["requests"]

    def fault(self, op, kind, count=1, **extra):
        body = {"op": op, "kind": kind, "count": count}
        body.update(extra)
        return self.ctl("POST", "/faults", body)
