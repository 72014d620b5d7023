"""``--profile`` only: wraps the places where a first invocation spends time outside our code,
so that the child can say what each one cost: every boto3 client creation, every AWS call (and
its wait on the socket), every upstream request (and its wait), every TCP connect. Installed
before the handler's import, so botocore and httpx are imported here first: the profile run's
init time is not a figure (the ``-X importtime`` run gives the imports)."""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable
from typing import Any

Calls = list[dict[str, Any]]


def _timed(calls: Calls, kind: str, name: Callable[..., str]) -> Callable[[Any], Any]:
    def wrap(original: Any) -> Any:
        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                end = time.perf_counter()
                try:
                    label = name(*args, **kwargs)
                except Exception:
                    label = "?"
                calls.append({"kind": kind, "name": label, "start": start, "seconds": end - start})

        return timed

    return wrap


def install() -> Calls:
    import botocore.client
    import botocore.httpsession
    import botocore.session
    import httpx
    import urllib3.util.connection

    calls: Calls = []
    session = botocore.session.Session
    session.create_client = _timed(  # type: ignore[method-assign]
        calls, "client", lambda _self, service, *a, **k: str(service)
    )(session.create_client)
    client = botocore.client.BaseClient
    client._make_api_call = _timed(  # type: ignore[method-assign]
        calls, "aws", lambda self, op, *a, **k: f"{self.meta.service_model.service_name}.{op}"
    )(client._make_api_call)
    http = botocore.httpsession.URLLib3Session
    http.send = _timed(  # type: ignore[method-assign]
        calls, "aws-wait", lambda _self, request, *a, **k: request.url.split("?")[0]
    )(http.send)
    httpx.Client.send = _timed(  # type: ignore[method-assign]
        calls, "upstream", lambda _self, request, *a, **k: f"{request.method} {request.url.path}"
    )(httpx.Client.send)
    transport = httpx.HTTPTransport
    transport.handle_request = _timed(  # type: ignore[method-assign]
        calls, "upstream-wait", lambda _self, request, *a, **k: f"{request.url.path}"
    )(transport.handle_request)
    socket.create_connection = _timed(  # type: ignore[assignment]
        calls, "upstream-connect", lambda address, *a, **k: f"{address[0]}:{address[1]}"
    )(socket.create_connection)
    urllib3.util.connection.create_connection = _timed(  # type: ignore[assignment]
        calls, "aws-connect", lambda address, *a, **k: f"{address[0]}:{address[1]}"
    )(urllib3.util.connection.create_connection)
    return calls
