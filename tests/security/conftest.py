"""The security suite drives the same real handler as the unit tests (AWS behind moto, Oliver
behind respx) and the real local stack; it reuses their fixtures."""

from tests.unit.conftest import (  # noqa: F401 - fixtures, found by name
    aws,
    env,
    invoke,
    oliver,
    reconfigure,
)
