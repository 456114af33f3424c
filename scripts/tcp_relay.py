"""Relay one TCP address to another: `tcp_relay.py LISTEN_HOST:PORT TARGET_HOST:PORT`.

scripts/cluster.sh uses it when the workers live in their own network namespaces: the local MinIO
listens on loopback only (other tools share it there), and a loopback address is not reachable
from another namespace. The relay gives MinIO an address on the cluster's bridge, as a real
cluster reaches its object store by a routable address.
"""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(1 << 16):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _main(listen: str, target: str) -> None:
    host, port = listen.rsplit(":", 1)
    to_host, to_port = target.rsplit(":", 1)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(to_host, int(to_port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, host, int(port), reuse_address=True, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: tcp_relay.py LISTEN_HOST:PORT TARGET_HOST:PORT")
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
