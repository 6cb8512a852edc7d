"""fusebox's exceptions."""

from __future__ import annotations

from ._codes import REJECT_FORCED_OPEN, REJECT_HALF_OPEN_FULL


class FuseboxError(Exception):
    """Base class of the errors fusebox raises."""


class CircuitOpenError(FuseboxError):
    """A call was rejected by an open (or half-open and full) breaker; the
    function did not run.

    A new instance is raised on every rejection. ``CircuitOpenError(breaker,
    retry_after, reason)``: the attributes are read from ``args``, so the
    exception pickles and compares like any other.
    """

    __slots__ = ()

    @property
    def breaker(self) -> str:
        """The name of the breaker that rejected the call."""
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def retry_after(self) -> float | None:
        """Seconds until a call may be admitted again, or None when unknown
        (half-open with every probe slot taken, or forced open)."""
        return self.args[1]  # type: ignore[no-any-return]

    @property
    def reason(self) -> str:
        """``'open'``, ``'half_open_full'`` or ``'forced_open'``."""
        return self.args[2]  # type: ignore[no-any-return]

    def __str__(self) -> str:
        try:
            name, retry_after, reason = self.args
        except ValueError:
            return super().__str__()
        if reason == REJECT_HALF_OPEN_FULL:
            return f"circuit {name!r} is half-open and every probe slot is taken"
        if reason == REJECT_FORCED_OPEN:
            return f"circuit {name!r} is forced open"
        if retry_after is None:
            return f"circuit {name!r} is open"
        return f"circuit {name!r} is open; retry after {retry_after:.3f} s"
