"""Idempotency keys and the DynamoDB-backed guard against double bookings (Powertools).

The key is, in this order: the webhook delivery id, the caller's ``Idempotency-Key``, or a hash
of the normalised booking (slot + client identification + patient identification, with case,
spacing and phone punctuation folded). Keys are namespaced by channel and webhook source. The
booking's fingerprint is stored with the record, so the same explicit key with a different
booking is refused. Only successes are remembered: Powertools deletes the record when the
booking function raises (unless it carries an unknown-outcome marker, see ``booking.records``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from booking.submission import Channel
from booking.text import digits, fold

if TYPE_CHECKING:
    from booking.models import BookingRequest
    from booking.store import Marker

RECORD_TTL_SECONDS = 24 * 60 * 60


def normalised_booking(booking: BookingRequest) -> dict[str, Any]:
    if booking.client_id is not None:
        client: dict[str, Any] = {"client_id": booking.client_id}
    elif booking.client_remote_id is not None:
        client = {"client_remote_id": fold(booking.client_remote_id)}
    else:
        first, last = booking.name_words()
        client = {
            "first_name": " ".join(first),
            "last_name": " ".join(last),
            "phone": digits(booking.phone),
            "email": fold(booking.email or ""),
        }
    if booking.patient_id is not None:
        patient: dict[str, Any] = {"patient_id": booking.patient_id}
    elif booking.patient_remote_id is not None:
        patient = {"patient_remote_id": fold(booking.patient_remote_id)}
    else:
        patient = {"patient_name": fold(booking.patient_name or "")}
    if booking.slot_id is not None:
        time: dict[str, Any] = {"slot_id": booking.slot_id.strip()}
    else:
        time = {
            "start": booking.start,  # already UTC (see BookingService.submit)
            "appointment_type": booking.appointment_type,
            "provider_id": booking.provider_id,
        }
    return {**time, "client": client, "patient": patient}


def fingerprint(booking: BookingRequest) -> str:
    canonical = json.dumps(normalised_booking(booking), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(channel: Channel, explicit_key: str | None, booking: BookingRequest) -> str:
    """The namespaced key; an explicit key is kept as given, a derived one is a hash (no PII)."""
    namespace = f"{channel.name}:{channel.webhook_source or '-'}"
    if explicit_key:
        return f"{namespace}:key:{explicit_key}"
    return f"{namespace}:booking:{fingerprint(booking)}"


def _replayed(response: Any, idempotent_data: Any) -> Any:
    """Powertools hook, called only when a stored response is returned instead of running."""
    return {**response, "replayed": True}


def _run(record: dict[str, str], book: Any) -> dict[str, Any]:
    return dict(book())


class IdempotencyGuard:
    """Powertools idempotency over the DynamoDB table: one booking per key within 24 hours. The
    records also carry unknown-outcome markers (``booking.records``)."""

    KEY_PREFIX = "booking"

    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            IdempotencyConfig,
            idempotent_function,
        )

        from booking.records import BookingRecords

        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="fingerprint",
            expires_after_seconds=RECORD_TTL_SECONDS,
            response_hook=_replayed,
        )
        self.records = BookingRecords(table_name, dynamodb_client)
        # Configured now, not at the first booking: a marker's item is named before any booking
        # runs in this container (the background check).
        self.records.configure(self.config, key_prefix=self.KEY_PREFIX)
        self._run = idempotent_function(
            _run,
            data_keyword_argument="record",
            persistence_store=self.records,
            config=self.config,
            key_prefix=self.KEY_PREFIX,
        )

    def register_context(self, context: Any) -> None:
        """Must run before each booking: in-progress records expire with the invocation."""
        self.config.register_lambda_context(context)

    def run_once(
        self, key: str, fingerprint: str, book: Callable[[Marker | None], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """``book`` runs at most once per key, given the marker an earlier attempt whose outcome
        was unknown left in the record (None: none). The answer, and whether it is a replay."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        from booking.errors import DuplicateInProgress, IdempotencyKeyReused, UpstreamUnavailable

        booked: list[dict[str, Any]] = []

        def book_and_keep() -> dict[str, Any]:
            booked.append(book(self.records.previous()))
            return booked[-1]

        try:
            response = self._run(
                record={"key": key, "fingerprint": fingerprint}, book=book_and_keep
            )
        except IdempotencyAlreadyInProgressError:
            raise DuplicateInProgress(retry_after=2) from None
        except IdempotencyValidationError:
            raise IdempotencyKeyReused() from None
        except IdempotencyPersistenceLayerError:
            if booked:
                # The appointment exists; only remembering the answer failed. A retry will
                # settle on the create's lookup, but this caller gets the truth.
                return booked[0], False
            raise UpstreamUnavailable(retry_after=5) from None
        replayed = bool(response.pop("replayed", False))
        return response, replayed
