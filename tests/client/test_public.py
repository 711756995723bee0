"""sockjet.client's public surface: exactly the names in ``__all__``, each an error in the SockjetError tree."""

from __future__ import annotations

import sockjet.client
from sockjet.exceptions import SockjetError


def test_all_lists_what_the_package_exports() -> None:
    exported = {name for name in vars(sockjet.client) if not name.startswith("_") and not name.islower()}
    assert exported == set(sockjet.client.__all__)
    for name in sockjet.client.__all__:
        assert getattr(sockjet.client, name) is not None


def test_every_error_is_a_sockjet_error_under_client_error() -> None:
    errors = [
        sockjet.client.ChannelError,
        sockjet.client.ClientClosed,
        sockjet.client.CommandTimeout,
        sockjet.client.ConnectError,
        sockjet.client.ConnectionLost,
        sockjet.client.ProtocolViolation,
        sockjet.client.SubscriptionEnded,
    ]
    for error in errors:
        assert issubclass(error, sockjet.client.ClientError) and issubclass(error, SockjetError)
    assert issubclass(sockjet.client.CommandTimeout, TimeoutError)
