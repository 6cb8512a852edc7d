"""Keyed breakers' Python part: their exception."""

from __future__ import annotations

from ._errors import FuseboxError


class KeyedFullError(FuseboxError):
    """A ``KeyedBreakers`` set could not make a breaker for a new key: it
    holds ``capacity`` breakers and none may be evicted (each is open,
    half-open, forced open or disabled, has calls or failures in its window,
    or was looked up within ``min_idle``). The set is unchanged; the keys in
    use keep their breakers.

    ``KeyedFullError(message, keyed, capacity)`` (the message is the
    core's): the attributes are read from ``args``, so the exception pickles
    and compares like any other.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def keyed(self) -> str:
        """The name of the set that refused."""
        return self.args[1]  # type: ignore[no-any-return]

    @property
    def capacity(self) -> int:
        """The set's capacity."""
        return self.args[2]  # type: ignore[no-any-return]
