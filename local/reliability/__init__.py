"""The reliability suite: fault-injection scenarios against the real ``lambda_handler``, each
returning its figures.

``python -m local.reliability`` (``make reliability``) starts the local stack, runs every
scenario and writes ``docs/reliability.md``; ``tests/reliability`` runs the same scenario
functions and asserts every figure. Faults are injected where they happen: the Oliver
sandbox's fault rules, the secret's value in Secrets Manager, and (EventBridge having no local
stand-in that fails) a stub around the EventBridge client. Everything talks to 127.0.0.1 only.

Where each part lives:

* ``figures``: ``Check``, ``check`` and ``Result`` (one scenario's run on one target), and the
  helpers every scenario uses to count answers and events.
* ``targets``: what a scenario runs against: ``Sandbox`` (the Oliver sandbox's control
  endpoints), ``AwsSide`` (queues, idempotency and throttle tables, secret), the ``Target``
  protocol (``book`` posts a public booking, ``deliver`` a signed partner webhook) with
  ``StackTarget`` (the local stack over HTTP) and ``InProcess`` (the handler in this process),
  and ``open_slots``, ``fresh``, ``booking_fields`` (a public booking by name),
  ``partner_fields`` (a signed partner's, by ids); ``STACK_ARGS`` / ``reliability_stack``: the
  local stack with the scenarios' loopback address exempt from the per-IP throttle.
* ``duplicate_storm``: 50 identical public submissions at once;
  ``moto_conditional_write_probe``.
* ``upstream_faults``: the upstream fault matrix (``UPSTREAM_FAULTS``, ``upstream_fault``).
* ``eventbridge_faults``: ``PutEvents`` failing by plan (``FaultyEvents``) under 100 partner
  webhook bookings; parking, replay.
* ``secret_faults``: the Oliver secret missing, malformed, throttled (alone, or with every
  secret), rotated mid-traffic.
* ``report``: ``run_all`` (every scenario on its targets) and ``render`` (the doc's Markdown).
* ``__main__``: the command: starts the local stack, runs everything, writes the doc.

A new scenario is a module returning ``Result``s, a test in ``tests/reliability``, a call in
``report.run_all`` and, for a new table, an entry in ``report.SECTIONS`` (its title is
``Result.scenario``). Re-exported here: what ``tests/reliability`` imports.
"""

from __future__ import annotations

from local.reliability.duplicate_storm import duplicate_storm, moto_conditional_write_probe
from local.reliability.eventbridge_faults import eventbridge_faults
from local.reliability.secret_faults import (
    secret_malformed,
    secret_missing,
    secret_rotation,
    secret_throttled,
)
from local.reliability.targets import STACK_ARGS, InProcess, StackTarget, reliability_stack
from local.reliability.upstream_faults import UPSTREAM_FAULTS, UpstreamFault, upstream_fault

__all__ = [
    "STACK_ARGS",
    "UPSTREAM_FAULTS",
    "InProcess",
    "StackTarget",
    "UpstreamFault",
    "duplicate_storm",
    "eventbridge_faults",
    "moto_conditional_write_probe",
    "reliability_stack",
    "secret_malformed",
    "secret_missing",
    "secret_rotation",
    "secret_throttled",
    "upstream_fault",
]
