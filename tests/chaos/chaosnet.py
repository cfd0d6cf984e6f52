"""The chaos harness's network: one network namespace per node, joined by
loopback TCP proxies that the nemesis controls link by link.

`consort sandbox` gives every node two loopback ports (rpc and node-to-node)
and every node dials its peers at 127.0.0.1:<their port>. Here each node runs
in its own network namespace (the consortd-ns wrapper enters it), so inside
node i's namespace 127.0.0.1 is node i's own loopback. For every other node j
the harness listens, inside i's namespace, on j's two ports and forwards each
connection to j's namespace: every byte from i to j passes through the link
(i, j), which can be
  * held one way (bytes from i to j are no longer read, so TCP back-pressure
    stops the sender, and new connections between i and j stall until the
    link heals): a one-way cut; both ways is a partition;
  * delayed (each chunk waits that long before it is forwarded);
  * reset (every open connection of the link is closed at once).
Clients reach node j from the harness's own namespace through a plain proxy
on j's rpc port. Connection floods run inside the node's namespace
(`nsenter`), straight at the node.

Sockets are made in a namespace by a short thread that enters it with
setns(2) (a thread's namespace is its own); everything else runs in the
harness's namespace. The namespaces live as long as their holder processes
(`unshare -n` + `cat`, which exits when the harness's pipe to it closes, so
nothing outlives a harness killed by SIGKILL for long).
"""

import ctypes
import os
import select
import socket
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetError(Exception):
    pass


def _in_netns(holder_pid, fn):
    """Runs fn() on a thread inside the network namespace of holder_pid."""
    out = {}

    def run():
        try:
            fd = os.open(f"/proc/{holder_pid}/ns/net", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            out["value"] = fn()
        except BaseException as e:  # re-raised on the caller's thread
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(256)
    return s


class Link:
    """The policy of the bytes going from node src to node dst."""

    def __init__(self, src, dst):
        self.src, self.dst = src, dst
        self.held = 0  # how many active faults hold this direction
        self.delay = 0.0


class Conn:
    def __init__(self, a, b):
        self.a, self.b = a, b
        self.closed = False
        self.lock = threading.Lock()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.a, self.b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass


class ChaosNet:
    def __init__(self, count, log):
        self.count = count
        self.log = log
        self.holders = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.links = {(i, j): Link(i, j) for i in range(count) for j in range(count) if i != j}
        self.conns = {}  # (i, j) unordered pair as (min, max) -> set of Conn
        self.ports = {}  # node index -> (rpc_port, node_port)
        self.listeners = []
        self.closing = False
        self.bytes = 0
        try:
            for i in range(count):
                p = subprocess.Popen(["unshare", "--net", "--", "sh", "-c",
                                      "ip link set lo up && echo up && exec cat >/dev/null"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                self.holders.append(p)
                line = p.stdout.readline()
                if line.strip() != b"up":
                    raise NetError(f"cannot make a network namespace: {p.stderr.read()[:300]!r}")
        except BaseException:
            self.close()
            raise

    def holder_pid(self, i):
        return self.holders[i].pid

    def nsenter(self, i):
        """The argv prefix that runs a command in node i's namespace."""
        return ["nsenter", f"--net=/proc/{self.holder_pid(i)}/ns/net", "--"]

    # ---- wiring ----

    def add_node(self, i, rpc_port, node_port):
        """Node i listens on these ports inside its namespace: make the proxies to it
        (from the harness and from every other namespace) and, in its namespace,
        to every node known so far. A port 0 is picked here, bound once in the
        harness's namespace and held for the run, so every node's ports differ
        from every other's and from anything else bound there (the rpc port's
        socket is the clients' proxy; the node port's only holds the number).
        Returns node i's (rpc_port, node_port); a node wired before keeps its own."""
        with self.lock:
            if i in self.ports:
                return self.ports[i]
        client = _listener(rpc_port)
        rpc_port = client.getsockname()[1]
        if node_port == 0:
            holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            holder.bind(("127.0.0.1", 0))
            node_port = holder.getsockname()[1]
            self.listeners.append(holder)
        with self.lock:
            self.ports[i] = (rpc_port, node_port)
            known = dict(self.ports)
        self._serve(client, None, i, rpc_port)  # clients, from the harness
        for j, (rj, nj) in known.items():
            if j == i:
                continue
            for port in (rj, nj):  # i dials j
                self._serve(_in_netns(self.holder_pid(i), lambda p=port: _listener(p)), i, j, port)
            for port in (rpc_port, node_port):  # j dials i
                self._serve(_in_netns(self.holder_pid(j), lambda p=port: _listener(p)), j, i, port)
        return rpc_port, node_port

    def _serve(self, lsock, src, dst, port):
        self.listeners.append(lsock)
        threading.Thread(target=self._accept_loop, args=(lsock, src, dst, port),
                         daemon=True).start()

    def _accept_loop(self, lsock, src, dst, port):
        while not self.closing:
            try:
                a, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(a, src, dst, port), daemon=True).start()

    def _cut(self, src, dst):
        return self.links[(src, dst)].held or self.links[(dst, src)].held

    def _connect(self, a, src, dst, port):
        if src is not None:
            # while either direction is held, a new connection cannot be made
            with self.cond:
                while self._cut(src, dst) and not self.closing:
                    self.cond.wait(0.5)
        try:
            b = _in_netns(self.holder_pid(dst), lambda: socket.socket())
            b.settimeout(5)
            b.connect(("127.0.0.1", port))
            b.settimeout(None)
        except OSError:
            a.close()
            return
        c = Conn(a, b)
        pair = None if src is None else (min(src, dst), max(src, dst))
        with self.lock:
            if self.closing:
                c.close()
                return
            self.conns.setdefault(pair, set()).add(c)
        threading.Thread(target=self._pump, args=(c, a, b, src, dst, pair), daemon=True).start()
        threading.Thread(target=self._pump, args=(c, b, a, dst, src, pair), daemon=True).start()

    def _pump(self, c, frm, to, src, dst, pair):
        link = self.links.get((src, dst)) if src is not None and dst is not None else None
        try:
            while not c.closed:
                r, _, _ = select.select([frm], [], [], 0.5)
                if not r:
                    continue
                data = frm.recv(65536)
                if not data:
                    break
                if link is not None:
                    with self.cond:
                        while link.held and not c.closed and not self.closing:
                            self.cond.wait(0.5)
                    if link.delay > 0:
                        time.sleep(link.delay)
                if c.closed:
                    break
                to.sendall(data)
                self.bytes += len(data)
        except OSError:
            pass
        c.close()
        with self.lock:
            s = self.conns.get(pair)
            if s is not None:
                s.discard(c)

    # ---- the nemesis's levers ----

    def hold(self, src, dst):
        """One more fault holds the bytes from src to dst (release undoes it)."""
        with self.cond:
            self.links[(src, dst)].held += 1

    def release(self, src, dst):
        with self.cond:
            link = self.links[(src, dst)]
            link.held = max(0, link.held - 1)
            self.cond.notify_all()

    def delay(self, src, dst, seconds):
        with self.lock:
            self.links[(src, dst)].delay = seconds

    def reset(self, a, b):
        """Closes every open connection between nodes a and b (both directions)."""
        with self.lock:
            conns = list(self.conns.get((min(a, b), max(a, b)), ()))
        for c in conns:
            c.close()
        return len(conns)

    def heal(self):
        with self.cond:
            for link in self.links.values():
                link.held = 0
                link.delay = 0.0
            self.cond.notify_all()

    def close(self):
        self.closing = True
        with self.cond:
            self.cond.notify_all()
        for s in self.listeners:
            try:
                s.close()
            except OSError:
                pass
        with self.lock:
            conns = [c for s in self.conns.values() for c in s]
        for c in conns:
            c.close()
        for p in self.holders:
            try:
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
