"""Adapter for Secrets Manager (through Powertools parameters): every secret the function reads,
cached for ``max_age`` seconds, and what a failed read means.

A secret that does not exist, cannot be read or decrypted is a misconfiguration (503
``configuration_error``, the log names the variable, never the value); a passing fault
(throttling, network) is 503 ``upstream_unavailable``.
"""

from __future__ import annotations

from typing import Any

from booking.errors import ConfigurationError, UpstreamUnavailable

#: Secrets Manager errors that no retry will fix: the function is misconfigured.
_CONFIGURATION_FAULTS = {
    "ResourceNotFoundException",
    "AccessDeniedException",
    "AccessDenied",
    "DecryptionFailure",
    "InvalidRequestException",
    "InvalidParameterException",
    "UnrecognizedClientException",
}


def secret_error(exc: BaseException, variable: str) -> Exception:
    """Classify a failed secret read. Never includes the secret's value."""
    cause = exc.__cause__ or exc.__context__ or exc
    code = getattr(cause, "response", {}).get("Error", {}).get("Code", "")
    if code in _CONFIGURATION_FAULTS:
        return ConfigurationError(f"the secret named by {variable} cannot be read ({code})")
    return UpstreamUnavailable(retry_after=5)


class SecretStore:
    def __init__(self, secretsmanager_client: Any, max_age: int) -> None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        self._provider = SecretsProvider(boto3_client=secretsmanager_client)
        self._max_age = max_age

    def read(
        self, secret_id: str, variable: str, fresh: bool = False, transform: Any = None
    ) -> Any:
        """The secret's value (cached); ``fresh`` skips the cache once. ``variable`` names the
        environment variable that points at it, for the operator's log."""
        try:
            return self._provider.get(
                secret_id, max_age=self._max_age, force_fetch=fresh, transform=transform
            )
        except Exception as exc:
            raise secret_error(exc, variable) from None
