"""The partner kit: sign a JSON body as a configured webhook source signs it, post it, print the
answer (README: For partners).

    python -m local.sign_webhook --source calcom-demo --file events/webhook-calcom.json
    make sign-webhook ARGS="--source calcom-demo --file body.json"

By default it talks to the local stack of ``make dev``: the sources it configures (the template's
``WebhookSources`` locally), the source's secret read from its AWS emulation, and its API. For a
deployed stack give ``--url``, ``--secret`` and ``--sources`` (the stack's ``WebhookSources``).
The file is a JSON body, or an API Gateway event of ``events/`` (its body is sent). The body is
sent byte for byte as signed, with a fresh timestamp and delivery id where the scheme has them.
Exit status 0 when the answer is 2xx.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from pathlib import Path

import httpx

from local import aws

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "booking"))

from booking.config import WebhookSource

#: Answer headers worth showing a partner.
SHOWN_HEADERS = ("content-type", "retry-after", "idempotent-replayed")


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def sign(
    source: WebhookSource,
    secret: str,
    body: bytes,
    now: float | None = None,
    delivery: str | None = None,
) -> dict[str, str]:
    """The headers a partner sends with ``body`` under ``source``'s scheme (written apart from
    the function's verifier, so that each checks the other)."""
    stamp = str(int(time.time() if now is None else now))
    delivery = delivery or f"msg_{uuid.uuid4().hex}"
    headers = {"content-type": "application/json"}
    if source.scheme == "standard-webhooks":
        encoded = secret.removeprefix("whsec_")
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        digest = _hmac(key, f"{delivery}.{stamp}.".encode() + body)
        return {
            **headers,
            "webhook-id": delivery,
            "webhook-timestamp": stamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        }
    if source.scheme == "timestamped-hmac":
        digest = _hmac(secret.encode(), f"{stamp}.".encode() + body)
        headers[source.header] = f"t={stamp},v1={digest.hex()}"
    else:
        signed = f"{stamp}.".encode() + body if source.timestamp_header else body
        digest = _hmac(secret.encode(), signed)
        text = digest.hex() if source.encoding == "hex" else base64.b64encode(digest).decode()
        headers[source.header] = source.prefix + text
        if source.timestamp_header:
            headers[source.timestamp_header] = stamp
    if source.id_header:
        headers[source.id_header] = delivery
    return headers


def read_body(path: Path) -> bytes:
    """The body to send: the file's bytes, or the body of an API Gateway event file."""
    data = path.read_bytes()
    try:
        document = json.loads(data)
    except ValueError:
        raise SystemExit(f"{path} is not JSON") from None
    if isinstance(document, dict) and document.get("version") == "2.0" and "body" in document:
        body = str(document["body"])
        return base64.b64decode(body) if document.get("isBase64Encoded") else body.encode()
    return data


def local_secret(source: str, aws_url: str) -> str:
    """The source's signing secret in the local stack's AWS emulation (the newest of a list)."""
    client = aws.client("secretsmanager", aws_url)
    try:
        value = client.get_secret_value(SecretId=aws.WEBHOOK_SECRET_NAME)["SecretString"]
    except Exception as exc:
        raise SystemExit(
            f"cannot read {aws.WEBHOOK_SECRET_NAME} from {aws_url} (is `make dev` running?): "
            f"{exc}; or give --secret"
        ) from None
    secret = json.loads(value).get(source)
    if isinstance(secret, list):
        secret = secret[-1] if secret else None
    if not isinstance(secret, str) or not secret:
        raise SystemExit(f"{aws.WEBHOOK_SECRET_NAME} has no secret for {source}; give --secret")
    return secret


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.sign_webhook",
        description="Sign a JSON body for a webhook source and post it; print the answer.",
    )
    parser.add_argument("--source", required=True, help="the source name (WEBHOOK_SOURCES)")
    parser.add_argument("--file", required=True, type=Path, help="JSON body or events/ file")
    parser.add_argument("--url", help="where to post (default: the local API's /webhooks/SOURCE)")
    parser.add_argument("--secret", help="the signing secret (default: the local stack's)")
    parser.add_argument(
        "--sources",
        help="WEBHOOK_SOURCES JSON (default: $WEBHOOK_SOURCES, else the local stack's sources)",
    )
    parser.add_argument("--aws-url", help="the AWS emulation (default: 127.0.0.1:4566)")
    parser.add_argument("--id", dest="delivery", help="delivery id (default: a fresh one)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the signed headers, post nothing"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    sources = json.loads(
        args.sources or os.environ.get("WEBHOOK_SOURCES") or json.dumps(aws.DEMO_WEBHOOK_SOURCES)
    )
    if args.source not in sources:
        print(f"no source {args.source!r}; configured: {', '.join(sources)}", file=sys.stderr)
        return 2
    try:
        source = WebhookSource.parse(sources[args.source])
    except (ValueError, TypeError):
        print(f"the options of {args.source!r} are not valid", file=sys.stderr)
        return 2
    aws_url = args.aws_url or f"http://127.0.0.1:{os.environ.get('AWS_EMULATION_PORT', '4566')}"
    secret = args.secret or local_secret(args.source, aws_url)
    body = read_body(args.file)
    headers = sign(source, secret, body, delivery=args.delivery)
    api = f"http://127.0.0.1:{os.environ.get('BOOKING_API_PORT', '3000')}"
    url = args.url or f"{api}/webhooks/{args.source}"
    print(f"POST {url}")
    for name, value in headers.items():
        print(f"{name}: {value}")
    if args.dry_run:
        return 0
    try:
        answer = httpx.post(url, content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        print(f"\nno answer from {url}: {exc}", file=sys.stderr)
        return 1
    print(f"\n{answer.status_code} {answer.reason_phrase}")
    for name in SHOWN_HEADERS:
        if name in answer.headers:
            print(f"{name}: {answer.headers[name]}")
    print(answer.text)
    return 0 if answer.is_success else 1


if __name__ == "__main__":
    raise SystemExit(main())
