"""The booking service: validated bookings in, Oliver appointments and EventBridge events out.

Layers, top to bottom (nothing lower imports anything higher):

- ``http``: request parsing, content negotiation, origin/redirect rules, response bodies.
- ``service``: the booking logic (idempotency, booking by pet name, ambiguous creates, events).
- ``models``, ``errors``, ``config``: the shapes everything else speaks.
- adapters, one per outside system: ``oliver`` (httpx), ``credentials`` (Secrets Manager),
  ``publisher`` (EventBridge + dead-letter queue), ``idempotency`` (DynamoDB), ``captcha``.
"""
