#!/usr/bin/env python3
"""Delaying TCP proxies on loopback for scripts/bench-scale.sh (wide-area runs).

    bench-scale-proxy.py --delay-ms D --map FILE PORT...

For every target PORT, listens on a free 127.0.0.1 port and forwards each
accepted connection to 127.0.0.1:PORT; every chunk read in either direction
is written to the other side D ms after it was read (chunks in order, many
in flight: a one-way delay, not a bandwidth cap). Writes "PORT PROXYPORT"
lines to FILE (bench/scale_shim/connect_shim.c reads them), then prints
READY and runs until SIGTERM. Standard library only.
"""
import argparse
import asyncio
import os
import signal
import sys
import time


async def pump(reader, writer, delay):
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            queue.put_nowait((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


def handler(target, delay):
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pump(reader, up_writer, delay), pump(up_reader, writer, delay))

    return handle


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("ports", type=int, nargs="+")
    a = ap.parse_args()
    if a.delay_ms < 0:
        sys.exit("bench-scale-proxy: --delay-ms must be >= 0")
    delay = a.delay_ms / 1000.0
    lines = []
    servers = []
    for port in a.ports:
        srv = await asyncio.start_server(handler(port, delay), "127.0.0.1", 0)
        servers.append(srv)
        lines.append(f"{port} {srv.sockets[0].getsockname()[1]}\n")
    tmp = a.map + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, a.map)
    print("READY", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
