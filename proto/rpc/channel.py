"""The one way a runstream client opens a channel, from :class:`ChannelOptions`."""

from __future__ import annotations

from pathlib import Path

import grpc

from ..endpoints import ChannelOptions
from ..errors import SettingsError


def open_channel(options: ChannelOptions) -> grpc.Channel:
    """A channel to ``options.target``: TLS when asked (the CA file, else system roots)."""
    grpc_options = [
        ("grpc.max_send_message_length", options.max_message_bytes),
        ("grpc.max_receive_message_length", options.max_message_bytes),
    ]
    if not options.tls:
        return grpc.insecure_channel(options.target, options=grpc_options)
    root = None
    if options.tls_ca:
        try:
            root = Path(options.tls_ca).read_bytes()
        except OSError as exc:
            raise SettingsError(f"cannot read the TLS CA file {options.tls_ca}: {exc}") from None
    credentials = grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.secure_channel(options.target, credentials, options=grpc_options)
