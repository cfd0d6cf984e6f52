"""Hostile clients for the integration tests: connection floods and slowloris.

Standard library only. A Flood opens many unauthenticated TCP connections to one
address from chosen 127.x source addresses (so a node can tell the clients apart
and apply its per-address cap) and holds them open in worker processes: one
process can hold at most its open-file limit, and raising it in the test process
would raise it for the nodes the test starts too. Connections either stay silent
(the node waits for a TLS ClientHello) or send one ClientHello and then nothing
(the node answers and waits for the client's Finished). With sustain=True every
connection the node closes is opened again, so the node stays at its cap for as
long as the flood lasts, the way the reported attack did.

    with Flood("127.0.0.1:8000", sources=["127.0.0.2", "127.0.0.3"], per_source=500) as f:
        f.wait_opened(timeout=20)
        ...
    print(f.totals())     # what the clients saw
"""

import errno
import multiprocessing
import os
import resource
import select
import socket
import ssl
import time

# A connection the node closes within this long of being connected was refused at accept.
REFUSED_WITHIN_S = 1.0
# At most this many connects in flight per worker (the kernel's queues stay sane).
CONNECTS_IN_FLIGHT = 512
# Reopening closed connections: at most this many per second per worker.
REOPEN_RATE = 2000


def client_hello():
    """The bytes of a TLS 1.3 ClientHello without any certificate: what an
    unauthenticated client sends first."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class _Worker:
    """One process's share: [(source, count)] held against (host, port)."""

    def __init__(self, host, port, shares, hello, sustain, conn, stop):
        self.host, self.port = host, port
        self.todo = [src for src, n in shares for _ in range(n)]  # first openings
        self.again = []  # connections the node closed, to open again (sustain)
        self.hello, self.sustain = hello, sustain
        self.conn, self.stop = conn, stop
        self.ep = select.epoll()
        self.socks = {}  # fd -> [socket, source, connected_at or None]
        self.stats = dict(issued=0, connected=0, connect_errors=0, refused=0,
                          closed_later=0, alive=0, max_alive=0, reopened=0, first_done=0)
        self.reopen_budget = 0.0
        self.connecting = 0

    def _open(self, src, first=False):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            s.connect((self.host, self.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            self.stats["connect_errors"] += 1
            self.stats["first_done"] += first
            return False
        self.socks[s.fileno()] = [s, src, None, first]
        self.connecting += 1
        self.ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN | select.EPOLLRDHUP)
        self.stats["issued"] += 1
        return True

    def _closed(self, fd, refused_hint=False):
        s, src, t, first = self.socks.pop(fd)
        self.ep.unregister(fd)
        s.close()
        if t is None:
            self.connecting -= 1
            self.stats["connect_errors"] += 1
            self.stats["first_done"] += first
        else:
            self.stats["alive"] -= 1
            fast = refused_hint or time.monotonic() - t < REFUSED_WITHIN_S
            self.stats["refused" if fast else "closed_later"] += 1
        if self.sustain and not self.stop.is_set():
            self.again.append(src)

    def _event(self, fd, ev):
        entry = self.socks.get(fd)
        if entry is None:
            return
        s = entry[0]
        if entry[2] is None:  # connecting
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                self._closed(fd)
                return
            entry[2] = time.monotonic()
            self.connecting -= 1
            self.stats["first_done"] += entry[3]
            self.stats["connected"] += 1
            self.stats["alive"] += 1
            self.stats["max_alive"] = max(self.stats["max_alive"], self.stats["alive"])
            self.ep.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)
            if self.hello:
                try:
                    s.send(self.hello)
                except OSError:
                    self._closed(fd)
                    return
        if ev & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
            try:
                while True:
                    data = s.recv(65536)
                    if not data:
                        self._closed(fd)
                        return
            except BlockingIOError:
                pass
            except OSError as e:  # a reset: the node refused or dropped it
                self._closed(fd, refused_hint=e.errno == errno.ECONNRESET)

    def run(self):
        last_report = 0.0
        last = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            self.reopen_budget = min(REOPEN_RATE, self.reopen_budget + (now - last) * REOPEN_RATE)
            last = now
            while self.todo and self.connecting < CONNECTS_IN_FLIGHT:
                self._open(self.todo.pop(), first=True)
            while not self.todo and self.again and self.connecting < CONNECTS_IN_FLIGHT \
                    and self.reopen_budget >= 1:
                self.reopen_budget -= 1
                self.stats["reopened"] += 1
                self._open(self.again.pop())
            for fd, ev in self.ep.poll(0.05):
                self._event(fd, ev)
            if now - last_report >= 0.2:
                self.conn.send(dict(self.stats, pending=len(self.todo) + len(self.again)))
                last_report = now
        for s, _, _, _ in self.socks.values():
            s.close()
        self.conn.send(dict(self.stats, pending=len(self.todo) + len(self.again), done=True))


def _worker_main(host, port, shares, hello, sustain, conn, stop):
    _raise_nofile()
    w = _Worker(host, port, shares, hello, sustain, conn, stop)
    try:
        w.run()
    except KeyboardInterrupt:
        pass


class Flood:
    """`per_source` connections from each address of `sources` to `address`
    ("host:port"), held by `workers` processes until stop()."""

    def __init__(self, address, sources, per_source, hello=False, sustain=True, workers=None):
        host, port = address.rsplit(":", 1)
        total = len(sources) * per_source
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        need = max(1, -(-total // max(64, nofile - 256)))
        workers = max(workers or 1, need)
        shares = [[] for _ in range(workers)]
        # spread every source over the workers
        for src in sources:
            base, extra = divmod(per_source, workers)
            for w in range(workers):
                n = base + (1 if w < extra else 0)
                if n:
                    shares[w].append((src, n))
        ctx = multiprocessing.get_context("fork")
        self.stop_event = ctx.Event()
        self.procs, self.pipes, self.last = [], [], []
        hello_bytes = client_hello() if hello else b""
        for share in shares:
            a, b = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker_main,
                            args=(host, int(port), share, hello_bytes, sustain, b, self.stop_event),
                            daemon=True)
            p.start()
            b.close()
            self.procs.append(p)
            self.pipes.append(a)
            self.last.append({})
        self.total = total

    def _poll(self):
        for i, a in enumerate(self.pipes):
            while a.poll():
                try:
                    self.last[i] = a.recv()
                except EOFError:
                    break

    def totals(self):
        """What the clients saw so far, summed over the workers."""
        self._poll()
        out = {}
        for st in self.last:
            for k, v in st.items():
                if isinstance(v, bool):
                    continue
                out[k] = out.get(k, 0) + v
        return out

    def wait_opened(self, timeout):
        """Waits until each of the `total` connections was connected (or failed) once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.totals()
            if t.get("first_done", 0) >= self.total:
                return t
            time.sleep(0.1)
        raise AssertionError(f"flood: only {self.totals()} of {self.total} connections "
                             f"opened after {timeout} s")

    def stop(self):
        """Closes every connection; returns the final totals."""
        self.stop_event.set()
        deadline = time.monotonic() + 20
        for i, p in enumerate(self.procs):
            while not self.last[i].get("done") and time.monotonic() < deadline:
                if self.pipes[i].poll(0.1):
                    try:
                        self.last[i] = self.pipes[i].recv()
                    except EOFError:
                        break
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
        return self.totals()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# ---------------------------------------------------------------- slowloris

def tls_connect(address, service_cert=None, source=None, timeout=10):
    """A TLS 1.3 connection without a client certificate (an SSLSocket)."""
    host, port = address.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    if service_cert:
        ctx.load_verify_locations(service_cert)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((host, int(port)), timeout=timeout,
                                   source_address=(source, 0) if source else None)
    return ctx.wrap_socket(raw)


def trickle(sock, data, interval, until_closed_within):
    """Sends `data` one byte every `interval` seconds until the peer closes the
    connection (or `until_closed_within` seconds pass). Returns (seconds until
    the close was seen, bytes sent, what the peer sent before closing)."""
    t0 = time.monotonic()
    got = b""
    sent = 0
    sock.settimeout(interval)
    while time.monotonic() - t0 < until_closed_within:
        if sent < len(data):
            try:
                sock.sendall(data[sent:sent + 1])
                sent += 1
            except OSError:
                return time.monotonic() - t0, sent, got
        try:
            chunk = sock.recv(65536)
            if not chunk:
                return time.monotonic() - t0, sent, got
            got += chunk
        except socket.timeout:
            continue
        except (ssl.SSLError, OSError):
            return time.monotonic() - t0, sent, got
    return None, sent, got
