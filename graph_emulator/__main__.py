"""`python -m graph_emulator --host 127.0.0.1 --port N`: serve the emulator over HTTPS."""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shlex
import sys
from pathlib import Path

from graph_emulator.core.server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph_emulator",
                                     description="A local Microsoft Graph and token endpoint, over HTTPS.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only, please)")
    parser.add_argument("--port", type=int, default=8443, help="port to listen on (0 picks a free one)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where to write the generated CA and certificate (default: a temporary folder)")
    parser.add_argument("--env-file", type=Path, default=None,
                        help="also write the settings to this file, for `set -a; . FILE; set +a`")
    args = parser.parse_args(argv)
    try:
        server = EmulatorServer(args.host, args.port, state_dir=args.state_dir)
    except OSError as error:
        print(f"graph_emulator: cannot listen on {args.host}:{args.port}: {error.strerror or error} "
              f"(another program has the port? try --port 0 for a free one)", file=sys.stderr)
        return 1
    lines = shell_settings(server.env())
    print(f"# Graph emulator on {server.url} (CA: {server.tls.ca_bundle}); Ctrl+C to stop.", flush=True)
    print("# The settings that point the service at it (also JSON at GET /_emulator/env); in another shell,\n"
          "# paste them, or start with --env-file FILE and run `set -a; . FILE; set +a`:", flush=True)
    print("\n".join(lines), flush=True)
    if args.env_file is not None:
        args.env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args.env_file.chmod(0o600)  # it holds the emulator's client secret
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def shell_settings(env: dict[str, str]) -> list[str]:
    """`export NAME='value'` lines: every setting the emulator gives (its client secret too: it is the emulator's
    own, worthless anywhere else), and a fresh signing key, so a shell that loads them can run the service."""
    values = env | {"COPROD_SIGNING_KEY": secrets.token_urlsafe(32)}
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


if __name__ == "__main__":
    raise SystemExit(main())
