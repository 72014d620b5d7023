"""`python -m local.oliver_sandbox`: run the sandbox in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from types import FrameType

from .server import SandboxServer


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.oliver_sandbox", description="Local Oliver partner API simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    default_port = int(os.environ.get("OLIVER_SANDBOX_PORT") or 3001)
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--state-file", default=None, help="keep appointments in this JSON file")
    parser.add_argument("--token-ttl", type=float, default=3600, help="token lifetime, seconds")
    parser.add_argument("--latency-ms", type=float, default=0, help="added to every API call")
    parser.add_argument("--error-rate", type=_rate, default=0.0, help="share of random 500s")
    parser.add_argument("--create-status", type=int, choices=(200, 201), default=200)
    parser.add_argument("--slot-taken-status", type=int, choices=(400, 409), default=400)
    parser.add_argument(
        "--optional-client-id-on-create",
        action="store_true",
        help="accept POST /appointments without X-Client-Id (the spec does not declare it)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s oliver-sandbox %(message)s",
        stream=sys.stderr,
    )
    server = SandboxServer(
        args.host,
        args.port,
        state_file=args.state_file,
        token_ttl_seconds=args.token_ttl,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        create_status=args.create_status,
        slot_taken_status=args.slot_taken_status,
        require_client_id_on_create=not args.optional_client_id_on_create,
    )

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.start()
        print(f"Oliver sandbox listening on {server.api_base}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
