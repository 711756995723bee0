"""sockjet's protocol with one lock lifted, so an e2e test can prove the other on its own."""

from __future__ import annotations

from sockjet.server import SockjetWebSocketProtocol


class UnlimitedPings(SockjetWebSocketProtocol):
    """No control-frame budget: only read back-pressure stands between a ping flood and the server's memory."""

    control_frame_burst = 10**9
