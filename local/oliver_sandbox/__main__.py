"""`python -m local.oliver_sandbox`: run the sandbox in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from . import seed
from .api import ID_STYLES, check_setting
from .server import SandboxServer


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _setting(name: str, kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type that checks a value as `POST /__sandbox/settings` would."""

    def parse(text: str) -> Any:
        try:
            return check_setting(name, kind(text))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{name} ")) from None

    parse.__name__ = getattr(kind, "__name__", name)  # argparse names the type in its errors
    return parse


def build(argv: list[str] | None = None) -> tuple[SandboxServer, bool]:
    """The sandbox the command line asks for (not started), and whether to be quiet."""
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
    switches = parser.add_argument_group(
        "switches", "interpretations of what the docs leave unknown (README: Switches)"
    )
    switches.add_argument("--create-status", type=int, choices=(200, 201), default=200)
    switches.add_argument(
        "--slot-taken-status",
        type=int,
        choices=(400, 409, 422),
        default=400,
        help="a taken or stale slot on the create",
    )
    switches.add_argument(
        "--optional-client-id-on-create",
        action="store_true",
        help="accept POST /appointments without X-Client-Id (the spec does not declare it)",
    )
    switches.add_argument(
        "--client-id-error-status",
        type=int,
        choices=(400, 401, 403, 404),
        default=400,
        help="a missing or unknown X-Client-Id",
    )
    switches.add_argument(
        "--not-found-status",
        type=int,
        choices=(400, 404),
        default=404,
        help="an unknown id on the get-by-id routes",
    )
    switches.add_argument(
        "--id-style",
        choices=ID_STYLES,
        default="numeric",
        help="client, patient and appointment ids: numeric strings, other strings or UUIDs",
    )
    switches.add_argument(
        "--revoke-on-sign-in",
        action="store_true",
        help="a sign-in revokes every token issued before it",
    )
    switches.add_argument(
        "--list-delay",
        type=_setting("list_delay_seconds", float),
        default=0.0,
        metavar="SECONDS",
        help="new appointments show in GET /appointments only after this long",
    )
    switches.add_argument(
        "--rate-limit",
        type=_setting("rate_limit_per_minute", int),
        default=0,
        metavar="N",
        help="core API requests per practice per minute, then 429 (0: no limit)",
    )
    switches.add_argument(
        "--no-retry-after", action="store_true", help="the limiter's 429 has no Retry-After"
    )
    switches.add_argument(
        "--horizon-days",
        type=_setting("horizon_days", int),
        default=seed.SEARCH_DAYS,
        metavar="DAYS",
        help="days an open-times search covers",
    )
    switches.add_argument(
        "--time-zone",
        type=_setting("time_zone", str),
        default=seed.TIME_ZONE,
        metavar="ZONE",
        help="the practice's IANA zone",
    )
    switches.add_argument(
        "--slot-minutes",
        type=_setting("slot_minutes", int),
        default=seed.SLOT_MINUTES,
        metavar="MINUTES",
        help="the length of a slot",
    )
    switches.add_argument(
        "--new-clients-by-name",
        action="store_true",
        help="a create by name that matches no client creates it (client_type NEW)",
    )
    switches.add_argument(
        "--taken-before-booking",
        type=_setting("taken_before_booking", int),
        default=0,
        metavar="N",
        help="the next N creates of an offered slot find it just taken by another visitor",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
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
        client_id_error_status=args.client_id_error_status,
        not_found_status=args.not_found_status,
        id_style=args.id_style,
        revoke_on_sign_in=args.revoke_on_sign_in,
        list_delay_seconds=args.list_delay,
        rate_limit_per_minute=args.rate_limit,
        rate_limit_retry_after=not args.no_retry_after,
        horizon_days=args.horizon_days,
        time_zone=args.time_zone,
        slot_minutes=args.slot_minutes,
        new_clients_by_name=args.new_clients_by_name,
        taken_before_booking=args.taken_before_booking,
    )
    return server, args.quiet


def main(argv: list[str] | None = None) -> int:
    server, quiet = build(argv)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s oliver-sandbox %(message)s",
        stream=sys.stderr,
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
