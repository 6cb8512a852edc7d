"""Shared registries' Python part: their exceptions."""

from __future__ import annotations

from ._errors import FuseboxError


class SharedRegistryError(FuseboxError):
    """A shared registry file cannot be used: it is not a fusebox registry,
    was made by another layout version or before the host last booted, is
    full, or a breaker in it is being created by a process that stopped."""

    __slots__ = ()


class ConfigMismatchError(SharedRegistryError, ValueError):
    """The breaker exists in the shared file with another configuration.

    ``ConfigMismatchError(message, breaker, fields)``: the attributes are
    read from ``args``, so the exception pickles like any other.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def breaker(self) -> str:
        """The breaker's name."""
        return self.args[1]  # type: ignore[no-any-return]

    @property
    def fields(self) -> list[str]:
        """The configuration arguments that differ from the file's."""
        return list(self.args[2])
