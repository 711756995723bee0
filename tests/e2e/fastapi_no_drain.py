"""examples/fastapi_hub.py with ``Hub(drain_on_signal=False)``: shows what uvicorn alone sends at shutdown."""

from __future__ import annotations

from examples.fastapi_hub import app, hub

hub.drain_on_signal = False

__all__ = ["app"]
