"""The chaos harness's cluster: `consort sandbox` with every node in its own
network namespace (chaosnet.py, consortd-ns), the harness's restarts, one
node's data_dir on a tmpfs (for the full disk), per-node fake clocks, and a
cleanup that undoes all of it even after a failure."""

import ctypes
import errno
import http.client
import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import consort_harness as h  # noqa: E402
from chaosnet import ChaosNet  # noqa: E402

WRAPPER = os.path.join(HERE, "consortd-ns")
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
PR_SET_PDEATHSIG = 1
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE)


def _die_with_parent():
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # a node that crashes leaves a core in the harness's working directory
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class Cluster:
    def __init__(self, opts, root, log):
        self.opts = opts
        self.log = log
        self.n = opts.nodes
        self.root = root
        self.ctl = os.path.join(root, "ctl")
        self.ws = os.path.join(root, "ws")
        os.makedirs(self.ctl)
        self.net = None
        self.sandbox = None
        self.procs = {}  # node index -> Popen of a node the harness (re)started
        self.pids = {}
        self.stopped = set()  # SIGSTOPped nodes
        self.mounts = []
        self.disk_node = opts.disk_node
        self.ballast = None
        self.faketime = opts.clock and os.path.exists(FAKETIME_LIB)
        if opts.clock and not self.faketime:
            self._fault_unavailable(f"no {FAKETIME_LIB} (Debian package libfaketime): "
                                    "the clock fault is off")
        self.closing = False
        self.wire_errors = []
        # Nodes the harness restarts are forked by one thread that lives as long as
        # the cluster: PR_SET_PDEATHSIG fires when the forking *thread* exits (a
        # node forked by the nemesis's thread died with it).
        self.killed = set()  # nodes the nemesis killed and has not restarted yet
        self.exits = []  # (node, how and why) of nodes that exited on their own
        self.crashes = []  # those of them killed by SIGSEGV, SIGABRT, ...
        self.sanitizer_seen = {}  # node -> sanitizer reports in its log already counted
        self.lock = threading.Lock()
        self.spawns = queue.Queue()
        self.spawner = threading.Thread(target=self._spawn_loop, daemon=True)
        self.spawner.start()
        self.env = dict(os.environ, CHAOS_CONSORTD=os.path.abspath(opts.consortd),
                        CHAOS_CTL=self.ctl, CONSORT_LOG=opts.log_level)
        if self.faketime:
            self.env["CHAOS_FAKETIME_LIB"] = FAKETIME_LIB

    def _fault_unavailable(self, msg):
        """A requested fault cannot be injected here: said, and fatal with
        CONSORT_NO_SKIP=1 (CI), so a run never passes without the faults it was
        asked for."""
        if os.environ.get("CONSORT_NO_SKIP") == "1":
            raise RuntimeError(f"{msg} (CONSORT_NO_SKIP=1)")
        self.log(msg)

    # ---- start ----

    def start(self):
        self.net = ChaosNet(self.n, self.log)
        self.wirer = threading.Thread(target=self._wire_loop, daemon=True)
        self.wirer.start()
        argv = [self.opts.consort, "sandbox", "--nodes", str(self.n), "--workspace", self.ws,
                "--consortd", WRAPPER, "--app", self.opts.app,
                "--node-option", f"snapshot_interval={self.opts.snapshot_interval}"]
        self.sandbox_log = os.path.join(self.root, "sandbox.log")
        self._errlog = open(self.sandbox_log, "ab")
        self.sandbox = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._errlog, env=self.env,
                                        preexec_fn=_die_with_parent)
        ready = {}

        def reader():
            for raw in self.sandbox.stdout:
                if raw.startswith(b"READY "):
                    ready["line"] = raw
                    return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(60 + 40 * self.n)
        if "line" not in ready:
            raise h.TestFailure(f"consort sandbox did not print READY (exit "
                                f"{self.sandbox.poll()}); wiring errors {self.wire_errors}:\n"
                                f"{h.tail(self.sandbox_log, 30)}")
        with open(os.path.join(self.ws, "nodes.json")) as f:
            self.nodes = json.load(f)
        for i, nd in enumerate(self.nodes):
            self.pids[i] = nd["pid"]
        self.service_cert = os.path.join(self.ws, "service_cert.pem")
        self.user_cert = os.path.join(self.ws, "user0_cert.pem")
        self.user_key = os.path.join(self.ws, "user0_privk.pem")

    def _wire_loop(self):
        """Answers the wrapper's requests: wires node i's namespace (once) and
        tells the wrapper which namespace to enter."""
        while not self.closing:
            for name in sorted(os.listdir(self.ctl)):
                if not name.startswith("req-") or name.endswith(".tmp"):
                    continue
                i = int(name[4:])
                path = os.path.join(self.ctl, name)
                try:
                    with open(path) as f:
                        req = json.load(f)
                    if i == self.disk_node and not self.mounts:
                        self._mount_tmpfs(os.path.dirname(req["config"]), req["config"])
                    rpc = int(req["rpc_address"].rsplit(":", 1)[1])
                    node = int(req["node_address"].rsplit(":", 1)[1])
                    rpc, node = self.net.add_node(i, rpc, node)  # ports 0: picked here
                    answer = os.path.join(self.ctl, f"ns-{i}")
                    with open(answer + ".tmp", "w") as f:
                        json.dump({"holder": self.net.holder_pid(i),
                                   "rpc_address": f"127.0.0.1:{rpc}",
                                   "node_address": f"127.0.0.1:{node}"}, f)
                    os.rename(answer + ".tmp", answer)
                except Exception as e:  # the wrapper times out; the error is reported
                    self.wire_errors.append(f"node {i}: {e!r}")
                    self.log(f"wiring node {i} failed: {e!r}")
                os.unlink(path)
            time.sleep(0.05)

    def _mount_tmpfs(self, node_dir, config):
        with open(config) as f:
            data = json.load(f)["data_dir"]
        if not os.path.isabs(data):
            data = os.path.join(node_dir, data)
        os.makedirs(data, exist_ok=True)
        aside = data + ".before-tmpfs"
        shutil.move(data, aside)
        os.makedirs(data)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.opts.disk_mb}m,mode=0700",
                            "tmpfs", data], capture_output=True)
        if p.returncode != 0:
            os.rmdir(data)
            shutil.move(aside, data)
            self._fault_unavailable(f"no tmpfs for node {self.disk_node} "
                                    f"({p.stderr.decode().strip()}): the full-disk fault is off")
            self.disk_node = None
            return
        self.mounts.append(data)
        for name in os.listdir(aside):
            shutil.move(os.path.join(aside, name), os.path.join(data, name))
        os.rmdir(aside)
        self.disk_dir = data
        self.log(f"node {self.disk_node}'s data_dir is a {self.opts.disk_mb} MiB tmpfs")

    # ---- nodes ----

    def address(self, i):
        return self.nodes[i]["rpc_address"]

    def client(self, i, timeout=15):
        c = h.Client(self.address(i), self.service_cert, self.user_cert, self.user_key)
        c.timeout = timeout
        return c

    def alive(self, i):
        return h.pid_alive(self.pids[i])

    def kill9(self, i):
        with self.lock:
            self.killed.add(i)
        pid = self.pids[i]
        self.stopped.discard(i)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        h.wait_until(lambda: not h.pid_alive(pid), 20, f"node {i} to die")
        if i in self.procs:
            self.procs[i].wait(10)

    def restart(self, i):
        with self.lock:
            if self.alive(i):
                self.killed.discard(i)
                return
            self._restart(i)
            self.killed.discard(i)

    def _restart(self, i):
        done = queue.Queue()
        self.spawns.put((i, done))
        p = done.get(timeout=30)
        if isinstance(p, BaseException):
            raise p
        self.procs[i] = p
        self.pids[i] = p.pid

    def supervise(self):
        """A node that exits on its own (a fail-stop the faults provoked: a full disk
        while applying, ...) is noted with its last error line and started again
        after 5 s, as a supervisor (systemd) would; the run reports how many."""
        self.supervisor = threading.Thread(target=self._supervise_loop, daemon=True)
        self.supervisor.start()

    def _supervise_loop(self):
        down_since = {}
        while not self.closing:
            time.sleep(0.5)
            for i in range(self.n):
                with self.lock:
                    if self.closing or i in self.killed or self.alive(i):
                        down_since.pop(i, None)
                        continue
                    if i not in down_since:
                        down_since[i] = time.monotonic()
                        how = self._how_it_ended(i)
                        last = [l for l in h.log_lines(self.nodes[i]["log"], " error ")[-1:]]
                        why = f"{how}; last error line: {last[0][:300] if last else '(none)'}"
                        self.exits.append((i, why))
                        reports = [l for l in h.log_lines(self.nodes[i]["log"])
                                   if "ERROR: AddressSanitizer" in l or "runtime error:" in l]
                        sanitizer = reports[self.sanitizer_seen.get(i, 0):]
                        self.sanitizer_seen[i] = len(reports)
                        if how.startswith("killed by signal ") and \
                                int(how.split()[-1]) in CRASH_SIGNALS:
                            self.crashes.append((i, why))
                        elif sanitizer:  # an ASan/UBSan build exits 1 after its report
                            self.crashes.append((i, f"{how}: {sanitizer[-1][:300]}"))
                        self.log(f"node {i} exited on its own: {why}")
                    elif time.monotonic() - down_since[i] >= 5:
                        try:
                            self._restart(i)
                            self.log(f"node {i} started again after it exited on its own")
                        except Exception as e:
                            self.log(f"restarting node {i}: {e!r}")
                        down_since.pop(i, None)

    def _how_it_ended(self, i):
        """'exit status N' or 'killed by signal N' of node i's last process (the
        harness's child, or the sandbox's, which logs it)."""
        pid = self.pids[i]
        p = self.procs.get(i)
        if p is not None and p.pid == pid:
            try:
                rc = p.wait(5)
            except subprocess.TimeoutExpired:
                return "still running?"
            return f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
        for line in h.log_lines(self.sandbox_log, f"(pid {pid})"):
            if "killed by signal" in line:
                return "killed by signal " + line.split("killed by signal ", 1)[1].split()[0]
            if "exited with status" in line:
                return "exit status " + line.split("exited with status ", 1)[1].split()[0]
        return "how it ended is unknown"

    def _spawn_loop(self):
        while True:
            item = self.spawns.get()
            if item is None:
                return
            i, done = item
            try:
                with open(self.nodes[i]["log"], "ab") as logf:
                    done.put(subprocess.Popen(
                        [WRAPPER, "--config", self.nodes[i]["config"]],
                        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                        env=self.env, preexec_fn=_die_with_parent))
            except BaseException as e:
                done.put(e)

    def sigstop(self, i):
        """SIGSTOP; False if the node is not running (it exited on its own)."""
        try:
            os.kill(self.pids[i], signal.SIGSTOP)
        except ProcessLookupError:
            return False
        self.stopped.add(i)
        return True

    def sigcont(self, i):
        self.stopped.discard(i)
        try:
            os.kill(self.pids[i], signal.SIGCONT)
        except ProcessLookupError:
            pass

    def set_clock(self, i, offset_s):
        path = os.path.join(self.ctl, f"clock-{i}")
        with open(path + ".tmp", "w") as f:
            f.write(f"{offset_s:+d}\n")
        os.rename(path + ".tmp", path)

    def fill_disk(self, leave_bytes):
        """Fills the tmpfs of the disk node up to `leave_bytes` free (the node writes
        too, so it may end fuller: ENOSPC while filling is the point)."""
        st = os.statvfs(self.disk_dir)
        free = st.f_bavail * st.f_frsize
        size = max(0, free - leave_bytes)
        self.ballast = os.path.join(self.disk_dir, "chaos-ballast")
        written = 0
        chunk = b"\0" * (1 << 20)
        try:
            with open(self.ballast, "ab") as f:
                while written < size:
                    n = min(len(chunk), size - written)
                    f.write(chunk[:n])
                    written += n
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        return written

    def free_disk(self):
        if self.ballast is not None:
            try:
                os.unlink(self.ballast)
            except FileNotFoundError:
                pass
            self.ballast = None

    def state(self, i):
        c = self.client(i, timeout=5)
        try:
            return c.get_json("/node/state")
        finally:
            c.close()

    def is_open(self, i):
        try:
            return self.state(i).get("state") == "PartOfNetwork"
        except (OSError, http.client.HTTPException, h.TestFailure, ValueError):
            return False

    def leader(self):
        for i in range(self.n):
            if i in self.stopped or not self.alive(i):
                continue
            try:
                if h.is_leader_state(self.state(i)):
                    return i
            except (OSError, http.client.HTTPException, h.TestFailure, ValueError):
                continue
        return None

    def commit_seqno(self, i):
        c = self.client(i, timeout=5)
        try:
            return int(c.get_json("/node/commit")["transaction_id"].split(".")[1])
        finally:
            c.close()

    def heal_all(self):
        """Every fault undone: links, clocks, disk, frozen and dead nodes."""
        self.net.heal()
        for i in range(self.n):
            if self.faketime:
                self.set_clock(i, 0)
            if i in self.stopped:
                self.sigcont(i)
        self.free_disk()
        for i in range(self.n):
            if not self.alive(i):
                self.restart(i)

    # ---- stop ----

    def stop_nodes(self):
        """SIGTERM to every node (the sandbox's and the harness's); returns the
        nodes that did not exit 0."""
        self.closing = True  # no more supervision
        unclean = []
        for i in range(self.n):
            self.sigcont(i)
        for i, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i, p in self.procs.items():
            try:
                code = p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                code = p.wait(10)
            if code != 0:
                unclean.append(f"node {i} (pid {p.pid}) exited {code}")
        if self.sandbox is not None and self.sandbox.poll() is None:
            self.sandbox.send_signal(signal.SIGTERM)
            try:
                self.sandbox.wait(45)
            except subprocess.TimeoutExpired:
                self.sandbox.kill()
                self.sandbox.wait(10)
            if self.sandbox.returncode != 0:
                unclean.append(f"consort sandbox exited {self.sandbox.returncode} (a node it "
                               f"started did not exit 0 on SIGTERM)")
        return unclean

    def close(self):
        """Cleanup that never raises: processes, mounts, namespaces."""
        self.closing = True
        self.spawns.put(None)
        for i in list(self.pids):
            try:
                os.kill(self.pids[i], signal.SIGCONT)
            except OSError:
                pass
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if self.sandbox is not None and self.sandbox.poll() is None:
            self.sandbox.send_signal(signal.SIGTERM)
            try:
                self.sandbox.wait(45)
            except subprocess.TimeoutExpired:
                self.sandbox.kill()
                self.sandbox.wait(10)
        for pid in self.pids.values():
            if h.pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for m in self.mounts:
            if subprocess.run(["umount", m], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", m], capture_output=True)
        self.mounts = []
        if self.net is not None:
            self.net.close()
