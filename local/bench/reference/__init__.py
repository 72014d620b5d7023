"""The reference handler (``app.py``): launched by the bench as a function's code, never imported
from here."""
