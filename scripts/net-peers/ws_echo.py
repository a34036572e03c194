#!/usr/bin/env python3
"""WebSocket echo peer for zerows-net's integration tests (crates/zerows-net/tests/peers/mod.rs).

A real third-party server: the `websockets` package (PyPI, pinned in scripts/net-peers.sh),
asyncio server API (websockets.asyncio.server.serve, websockets >= 13).

    ws_echo.py --port PORT [--host 127.0.0.1] [--cert CERT.pem --key KEY.pem] [--no-deflate]

Echoes every message as received: a text message comes back as text, a binary one as binary
(fragmented messages come back reassembled, as one frame). permessage-deflate is offered to
clients that ask unless --no-deflate. Messages up to 16 MiB. The server sends no pings of its
own. Prints `listening` (flushed) once it accepts connections; exits 0 on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import signal
import ssl
import sys

try:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed
except ImportError as exc:  # pragma: no cover - environment problem
    print(
        f"ws_echo.py: cannot import websockets.asyncio.server ({exc}) with {sys.executable};"
        " run `bash scripts/net-peers.sh` (creates .venv-net) or set ZEROWS_PYTHON",
        file=sys.stderr,
    )
    sys.exit(3)

MAX_SIZE = 16 * 1024 * 1024


async def echo(ws):
    try:
        async for message in ws:  # str for text, bytes for binary
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", help="PEM certificate chain (enables TLS, needs --key)")
    parser.add_argument("--key", help="PEM private key")
    parser.add_argument("--no-deflate", action="store_true", help="compression=None")
    args = parser.parse_args()
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")

    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)

    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async with serve(
        echo,
        args.host,
        args.port,
        ssl=tls,
        compression=None if args.no_deflate else "deflate",
        max_size=MAX_SIZE,
        ping_interval=None,
    ):
        print("listening", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
