"""The demo booking page served by the local stack at `/` (see docs/embedding.md)."""
