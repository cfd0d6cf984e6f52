"""A headless Chromium driven over the DevTools protocol, standard library only.

Used by test_console.py. `Browser` starts `chromium --headless` on a fresh
profile with `--remote-debugging-port=0`, reads the port from the line
Chromium prints ("DevTools listening on ws://127.0.0.1:PORT/..."), opens a
page target over a WebSocket (RFC 6455, client side: masked frames, text
and continuation frames, ping answered) and sends CDP commands to it.

    with Browser(trust_spki=[spki]) as b:
        b.navigate("https://127.0.0.1:8000/console")
        b.wait_for("document.querySelectorAll('#nodes tbody tr').length === 3", 30, "nodes")
        b.screenshot("/tmp/console.png")

Chromium run as root needs --no-sandbox (its sandbox refuses to start as
root); the browser is given nothing but the page to load and one trusted key.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request


CHROMIUM_NAMES = ("chromium", "chromium-browser")


def find_chromium():
    """The path of a Chromium binary on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def spki_sha256_b64(cert_pem_path):
    """base64 SHA-256 of the certificate's SubjectPublicKeyInfo (DER): what
    --ignore-certificate-errors-spki-list takes."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_pem_path, "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class CdpError(Exception):
    pass


class WebSocket:
    """Just enough of an RFC 6455 client for the DevTools protocol."""

    def __init__(self, url, timeout):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        if not m:
            raise CdpError(f"not a ws:// URL: {url}")
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CdpError("DevTools closed the connection during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise CdpError(f"DevTools refused the WebSocket: {head[:200]!r}")

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise CdpError("DevTools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def recv_text(self):
        """The next whole text message (control frames handled on the way)."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, fin = b0 & 0x0F, b0 & 0x80
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            if b1 & 0x80:
                mask = self._read(4)
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(n)))
            else:
                payload = self._read(n)
            if opcode == 0x8:
                raise CdpError("DevTools closed the WebSocket")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            parts.append(payload)
            if fin:
                return b"".join(parts).decode()

    def close(self):
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class Browser:
    def __init__(self, trust_spki=(), timeout=60, window="1280,900", log_path=None):
        """log_path: where Chromium's output goes (default: inside its profile,
        removed at close)."""
        self.path = find_chromium()
        if self.path is None:
            raise CdpError("no chromium on PATH")
        self.profile = tempfile.mkdtemp(prefix="consort-chromium-")
        # Chromium honours --ignore-certificate-errors-spki-list only together
        # with --user-data-dir: a fresh profile, trusting nothing else
        argv = [self.path, "--headless", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                f"--user-data-dir={self.profile}", "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0", f"--window-size={window}"]
        if trust_spki:
            argv.append("--ignore-certificate-errors-spki-list=" + ",".join(trust_spki))
        if os.geteuid() == 0:
            argv.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
        argv.append("about:blank")
        self.log_path = log_path or os.path.join(self.profile, "chromium.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.PIPE)
        self.ws = None
        self._next_id = 0
        self.events = []
        try:
            port = self._devtools_port(timeout)
            self.ws = WebSocket(self._page_ws_url(port, timeout), timeout)
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call("Log.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout):
        found = {}

        def reader():
            # drains stderr into the log for as long as Chromium runs, so that it
            # never blocks on a full pipe
            for raw in self.proc.stderr:
                m = re.search(rb"DevTools listening on ws://[^:]+:(\d+)/", raw)
                if m and "port" not in found:
                    found["port"] = int(m.group(1))
                try:
                    self._log.write(raw)
                except ValueError:  # closed: the browser is being stopped
                    pass

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        deadline = time.monotonic() + timeout
        while "port" not in found:
            if self.proc.poll() is not None:
                raise CdpError(f"chromium exited {self.proc.returncode} before DevTools "
                               f"listened (log: {self.log_path})")
            if time.monotonic() > deadline:
                raise CdpError(f"chromium printed no DevTools port in {timeout} s")
            time.sleep(0.05)
        return found["port"]

    def _page_ws_url(self, port, timeout):
        deadline = time.monotonic() + timeout
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.load(r)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            if time.monotonic() > deadline:
                raise CdpError(f"no page target in {timeout} s: {targets}")
            time.sleep(0.1)

    def call(self, method, **params):
        """Sends one command and returns its result (events on the way are kept in
        self.events); raises CdpError on a protocol error."""
        self._next_id += 1
        my = self._next_id
        self.ws.send_text(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv_text())
            if msg.get("id") == my:
                if "error" in msg:
                    raise CdpError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def navigate(self, url):
        r = self.call("Page.navigate", url=url)
        if r.get("errorText"):
            raise CdpError(f"navigating to {url}: {r['errorText']}")

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (awaited if a promise)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise CdpError(f"{expression}: {r['exceptionDetails'].get('text')} "
                           f"{r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout, what):
        """Polls `expression` until its value (returned by value: a DOM node
        comes back as {}, so test for one with !!) is truthy; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.evaluate(expression)
            if v:
                return v
            if time.monotonic() > deadline:
                raise CdpError(f"timed out after {timeout} s waiting for {what} ({expression})")
            time.sleep(0.2)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def log_entries(self):
        """Console and browser log messages seen so far: (level, source, text)."""
        out = []
        for e in self.events:
            if e["method"] == "Log.entryAdded":
                x = e["params"]["entry"]
                out.append((x.get("level"), x.get("source"), x.get("text", "")))
            elif e["method"] == "Runtime.consoleAPICalled":
                p = e["params"]
                out.append((p.get("type"), "console",
                            " ".join(str(a.get("value", a.get("description", "")))
                                     for a in p.get("args", []))))
            elif e["method"] == "Runtime.exceptionThrown":
                d = e["params"]["exceptionDetails"]
                out.append(("error", "exception",
                            d.get("exception", {}).get("description", d.get("text", ""))))
        return out

    def close(self):
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
