"""The booking service: validated bookings in, Oliver appointments and EventBridge events out.

The README's "Repository layout" maps every module. In short, nothing lower in this list imports
anything higher:

- ``service`` (the booking, open times) over ``matching``, ``reconcile``, ``open_times``,
  ``throttle``, ``intake``;
- the shapes: ``models``, ``submission``, ``errors``, ``config``, ``text``;
- one adapter per outside system: ``oliver`` (httpx), ``secret_store`` and ``credentials``
  (Secrets Manager), ``store`` (DynamoDB), ``publisher`` (EventBridge and its dead-letter
  queue), ``captcha`` (Turnstile); ``http`` and ``webhooks`` for what arrives over HTTP;
- ``container`` builds each adapter once per container; ``telemetry`` holds logs and metrics.
"""
