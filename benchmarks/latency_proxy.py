"""A TCP relay that adds network latency in front of the benchmark's moto server, so transfers
can be compared as over a real network, where round trips, not moto's CPU, set the pace.

    python benchmarks/latency_proxy.py --port P --target-port Q --rtt-ms 20

Every chunk is forwarded half the round-trip time after it arrived, in each direction, so a
request and its answer take one round trip more; chunks queue rather than wait for each
other, so the delay does not cap throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            if not chunk:
                writer.close()
                return
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay_s, chunk))
    queue.put_nowait((time.monotonic() + delay_s, b""))
    with contextlib.suppress(ConnectionError):
        await sender


async def serve(port: int, target_port: int, delay_s: float) -> None:
    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pump(client_r, server_w, delay_s), pump(server_r, client_w, delay_s))

    server = await asyncio.start_server(relay, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--rtt-ms", type=float, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.target_port, args.rtt_ms / 2000))


if __name__ == "__main__":
    main()
