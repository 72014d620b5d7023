"""A faithful local simulator of the Oliver partner API (see README.md next to this file)."""

from .seed import LOCATION_ID, PASSWORD, STATIC_TOKEN, USERNAME
from .server import SandboxServer

__all__ = ["LOCATION_ID", "PASSWORD", "STATIC_TOKEN", "USERNAME", "SandboxServer"]
