"""The notification consumers: what the stack does with its own events (README: Notifications).

Each consumer is a function of its own, fed by an EventBridge rule through an SQS queue:

- ``confirmation``: the client's confirmation email (SES v2) on ``Appointment Booked``, with an
  RFC 5545 invitation built by ``invitation``, in words from editable templates.
- ``follow_up``: a staff task in Oliver on ``Booking Failed`` and ``Booking Cancelled``, after a
  grace period, dropped when the visitor booked by themselves in the meantime (``rebooking``).
- ``text_back``: an Oliver AI outbound text when the requested time was taken.

``consumer`` is the delivery plumbing they share (batches, partial failures, once per
``event_id``); ``events`` their view of the event details; ``settings`` and ``wiring`` their
configuration and adapters; ``wording`` the plain words and practice times they all write.
"""
