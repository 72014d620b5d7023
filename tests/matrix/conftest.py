"""The interpretation matrix runs the real handler in this process (``local.reliability``'s
``InProcess``: AWS under moto, the Oliver sandbox on a free port over real HTTP)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT / "layers" / "booking", ROOT / "functions" / "api"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# The Powertools logger binds its handler to sys.stdout when first imported: import it now, under
# pytest's session-wide capture, not inside one test whose captured stream is closed afterwards.
import booking.telemetry  # noqa: E402, F401
