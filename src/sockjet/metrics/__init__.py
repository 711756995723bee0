"""Prometheus metrics for sockjet: ``enable()`` once, serve ``metrics_app()`` where you want.

    from sockjet.metrics import metrics_app
    app.add_route("/metrics", metrics_app())   # sockjet App; Starlette/FastAPI: app.mount("/metrics", ...)

Nothing is imported or counted until metrics are enabled (``enable()``, or ``metrics_app()``
which enables them): until then every call site talks to a no-op recorder, and a connection pays
one attribute check. A process-wide switch rather than an App or Hub option, because
prometheus_client's values are per process anyway and one Hub serves many Apps (and the reverse).
Needs the ``sockjet[metrics]`` extra (prometheus_client). The series: docs/metrics.md.

Under ``sockjet run --workers N`` each worker counts into prometheus_client's multi-process
files (``PROMETHEUS_MULTIPROC_DIR``, which ``sockjet run`` prepares): any worker's scrape is the
sum over workers, and a dead worker's counts stay in that sum, so counters never go backwards.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sockjet import status
from sockjet.metrics import recorder

if TYPE_CHECKING:
    from sockjet.metrics._prometheus import PrometheusRecorder
    from sockjet.types import Receive, Scope, Send

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text format, version 0.0.4: what ``generate_latest`` writes and every Prometheus reads."""
_recorder: PrometheusRecorder | None = None


def enable() -> PrometheusRecorder:
    """Start counting in this process (idempotent); ``ImportError`` without ``sockjet[metrics]``."""
    global _recorder
    if _recorder is None:
        try:
            from sockjet.metrics._prometheus import PrometheusRecorder
        except ModuleNotFoundError as exc:  # pragma: no cover - the test extra installs prometheus_client
            raise ImportError("sockjet.metrics needs prometheus_client: pip install 'sockjet[metrics]'") from exc
        _recorder = PrometheusRecorder()
    recorder.current = _recorder
    return _recorder


def disable() -> None:
    """Stop counting (call sites talk to the no-op recorder again); values counted so far are kept."""
    if _recorder is not None:
        _recorder.flush()
    recorder.current = recorder.NOOP


def is_enabled() -> bool:
    return recorder.current.enabled


def scrape() -> bytes:
    """The exposition text of this process (or, in multi-process mode, of every worker)."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    own = enable()
    own.flush()
    directory = os.environ.get(_MULTIPROC_ENV)
    if directory:
        from prometheus_client import multiprocess

        from sockjet.metrics.workers import reap_dead_gauges

        reap_dead_gauges(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(own.registry) + generate_latest(REGISTRY)


class MetricsApp:
    """An ASGI app answering ``GET`` with the Prometheus text format (anything else: 405)."""

    def __init__(self) -> None:
        enable()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send(
                    {
                        "type": "websocket.close",
                        "code": status.WS_1008_POLICY_VIOLATION,
                        "reason": "metrics are served over HTTP",
                    }
                )
            return
        headers: list[tuple[bytes, bytes]]
        if scope.get("method", "GET") in ("GET", "HEAD"):
            code, body = 200, scrape()
            headers = [(b"content-type", CONTENT_TYPE)]
        else:
            code, body = 405, b"Method Not Allowed"
            headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"allow", b"GET, HEAD")]
        headers.append((b"content-length", str(len(body)).encode("latin-1")))
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


def metrics_app() -> Any:
    """Enable metrics and return the ASGI app that serves them: mount it where you want."""
    return MetricsApp()


__all__ = ["CONTENT_TYPE", "MetricsApp", "disable", "enable", "is_enabled", "metrics_app", "scrape"]
