"""Shared test settings: every wait in the suite derives from ``MS``.

Set ``SOCKJET_TEST_TIMEOUT_FACTOR=3`` on a slow machine to scale them all.
"""

from __future__ import annotations

import os

MS = 0.001 * float(os.environ.get("SOCKJET_TEST_TIMEOUT_FACTOR", "1"))
"""One millisecond, scaled for the machine."""
