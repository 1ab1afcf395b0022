"""Exceptions raised by the contracts package (codec and event checks)."""

from __future__ import annotations


class ContractError(Exception):
    """Root of every error raised by ``runstream.proto``."""


class EncodeError(ContractError):
    """An event could not be encoded (a field does not fit the schema)."""


class DecodeError(ContractError):
    """Bytes could not be decoded into an event (not single-object Avro, or a corrupt body)."""


class UnknownSchemaError(DecodeError):
    """The writer schema's fingerprint is not one this reader knows."""

    def __init__(self, fingerprint: bytes) -> None:
        super().__init__(f"unknown writer schema fingerprint {fingerprint.hex()}")
        self.fingerprint = fingerprint
