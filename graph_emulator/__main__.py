"""`python -m graph_emulator --host 127.0.0.1 --port N`: serve the emulator over HTTPS."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from graph_emulator._server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph_emulator",
                                     description="A local Microsoft Graph and token endpoint, over HTTPS.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only, please)")
    parser.add_argument("--port", type=int, default=8443, help="port to listen on (0 picks a free one)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where to write the generated CA and certificate (default: a temporary folder)")
    args = parser.parse_args(argv)
    server = EmulatorServer(args.host, args.port, state_dir=args.state_dir)
    print(f"Graph emulator on {server.url} (CA: {server.tls.ca_bundle})", flush=True)
    print(f"Settings: GET {server.url}/_emulator/env", flush=True)
    print(json.dumps({k: v for k, v in server.env().items() if "SECRET" not in k}, indent=2), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
