"""The booking service: validated bookings in, Oliver appointments and EventBridge events out.

Where things are (nothing lower in this list imports anything higher):

- ``http``: reading request bodies, content negotiation, the Origin check, safe redirects, the
  error body. ``intake``: pydantic validation of what was posted (loaded on first use).
- ``service``: the booking, once per idempotency key, with its events; ``pet_lookup`` finds the
  client and pet when a form gave names instead of ids; ``reconcile`` settles a create whose
  answer never came back.
- ``models``, ``submission``, ``errors``, ``config``, ``times``: the shapes everything speaks.
- adapters, one per outside system: ``oliver`` (httpx), ``credentials`` (Secrets Manager),
  ``publisher`` (EventBridge with its dead-letter queue), ``idempotency`` (DynamoDB),
  ``captcha`` (Turnstile), ``webhooks`` (signatures); ``container`` builds each once per
  Lambda container; ``telemetry`` holds the logger and metrics.
"""
