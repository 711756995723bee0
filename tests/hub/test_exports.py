"""What ``sockjet.hub`` exports is its public contract: the list is checked, and each name is real."""

from __future__ import annotations

import sockjet
import sockjet.hub

PUBLIC = {
    "HISTORY_LOST_CLOSE_CODE", "MAX_ROOM_NAME_BYTES", "OVERFLOW_CLOSE_CODE", "SHUTDOWN_CLOSE_CODE",
    "Backend", "Envelope", "History", "Hub", "HubError", "HubOptions", "HubWebSocket",
    "IncomparablePositions", "LocalRooms", "Member", "MemberState", "OverflowPolicy", "Position",
    "PresenceEvent", "PresenceSink", "PresenceStats", "PresenceStore", "Publication", "PublishError",
    "PublishOutcomeUnknown", "Retention", "StreamSlice", "json_frame",
}  # fmt: skip


def test_sockjet_hub_exports_exactly_its_public_names() -> None:
    assert set(sockjet.hub.__all__) == PUBLIC
    assert len(sockjet.hub.__all__) == len(PUBLIC)  # no name twice
    for name in PUBLIC:
        assert getattr(sockjet.hub, name) is not None, name


def test_the_close_codes_are_the_documented_ones() -> None:
    assert (sockjet.hub.HISTORY_LOST_CLOSE_CODE, sockjet.hub.OVERFLOW_CLOSE_CODE) == (3410, 1013)
    assert sockjet.hub.SHUTDOWN_CLOSE_CODE == 1001


def test_the_top_level_package_reexports_the_hub_and_its_positions() -> None:
    assert sockjet.Hub is sockjet.hub.Hub and sockjet.Position is sockjet.hub.Position
    assert sockjet.History is sockjet.hub.History
