"""The decorator and breaker.call on sync and async functions."""

from __future__ import annotations

import asyncio
import inspect
import weakref
import gc

import pytest

import fusebox
from conftest import Boom, NotFound


def make(clock: fusebox.ManualClock, **kw: object) -> fusebox.CircuitBreaker:
    kw.setdefault("consecutive_failures", 2)
    kw.setdefault("open_timeout", 10.0)
    return fusebox.CircuitBreaker("svc", clock=clock, **kw)  # type: ignore[arg-type]


def test_sync_decorator_passes_arguments_and_counts(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    @b
    def add(x: int, y: int = 1, *rest: int, **kw: int) -> tuple:
        if x < 0:
            raise Boom()
        return (x, y, rest, kw)

    assert add(1) == (1, 1, (), {})
    assert add(1, 2, 3, 4, z=5) == (1, 2, (3, 4), {"z": 5})
    assert add(x=7, y=8) == (7, 8, (), {})
    assert b.metrics()["successes"] == 3
    with pytest.raises(Boom):
        add(-1)
    assert b.metrics()["failures"] == 1
    with pytest.raises(TypeError):
        add()  # type: ignore[call-arg]  # a TypeError raised by the call itself is the call's failure
    assert b.state == "open"
    with pytest.raises(fusebox.CircuitOpenError):
        add(1)


def test_decorated_function_keeps_its_metadata(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    def original(a: int, b: str = "x") -> str:
        """Docs."""
        return b * a

    g = b(original)
    assert isinstance(g, fusebox.GuardedFunction)
    assert g.__name__ == "original"
    assert g.__doc__ == "Docs."
    assert g.__wrapped__ is original
    assert g.__module__ == original.__module__
    assert g.__qualname__ == original.__qualname__
    assert str(inspect.signature(g)) == str(inspect.signature(original))
    assert g.breaker is b
    assert "original" in repr(g)
    r = weakref.ref(g)
    del g
    gc.collect()
    assert r() is None


def test_guarded_function_cannot_be_instantiated_directly() -> None:
    with pytest.raises(TypeError):
        fusebox.GuardedFunction()  # type: ignore[call-arg]


def test_methods_bind_self(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    class Client:
        def __init__(self) -> None:
            self.n = 0

        @b
        def get(self, k: str) -> tuple:
            self.n += 1
            return (self, k)

    c = Client()
    assert c.get("a") == (c, "a")
    bound = c.get
    assert bound("b") == (c, "b")
    assert Client.get(c, "c") == (c, "c")
    assert c.n == 3
    assert b.metrics()["successes"] == 3


def test_breaker_call(clock: fusebox.ManualClock) -> None:
    b = make(clock)
    assert b.call(divmod, 7, 2) == (3, 1)
    assert b.call(dict, a=1) == {"a": 1}
    with pytest.raises(ZeroDivisionError):
        b.call(divmod, 1, 0)
    m = b.metrics()
    assert (m["successes"], m["failures"]) == (2, 1)


def test_async_decorator_awaits_and_counts_the_exception(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    @b
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        if x < 0:
            raise Boom()
        return x * 2

    assert inspect.iscoroutinefunction(fetch)
    assert fetch.__name__ == "fetch"

    async def main() -> None:
        assert await fetch(2) == 4
        for _ in range(2):
            with pytest.raises(Boom):
                await fetch(-1)
        assert b.state == "open"
        with pytest.raises(fusebox.CircuitOpenError):
            await fetch(1)

    asyncio.run(main())
    m = b.metrics()
    assert (m["successes"], m["failures"], m["rejected"]) == (1, 2, 1)


def test_async_permit_is_taken_when_the_coroutine_runs(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    @b
    async def f() -> int:
        return 1

    coro = f()  # not started: no permit yet, no rejection yet
    b.force_open()
    with pytest.raises(fusebox.CircuitOpenError):
        asyncio.run(coro)


def test_call_on_an_async_function_counts_when_awaited(clock: fusebox.ManualClock) -> None:
    b = make(clock)

    async def boom() -> None:
        await asyncio.sleep(0)
        raise Boom()

    async def ok() -> str:
        return "ok"

    async def main() -> None:
        assert await b.call(ok) == "ok"
        with pytest.raises(Boom):
            await b.call(boom)
        # A sync guarded function returning a coroutine is handled the same way.
        g = b(lambda: boom())
        with pytest.raises(Boom):
            await g()

    asyncio.run(main())
    m = b.metrics()
    assert (m["successes"], m["failures"]) == (1, 2)


def test_exclude_types_and_predicates_count_as_ignored(clock: fusebox.ManualClock) -> None:
    class HttpError(Exception):
        def __init__(self, status: int) -> None:
            self.status = status

    b = fusebox.CircuitBreaker(
        "http",
        clock=clock,
        consecutive_failures=1,
        exclude=[NotFound, lambda e: isinstance(e, HttpError) and e.status < 500],
    )
    assert b.exclude[0] is NotFound

    @b
    def call(e: Exception) -> None:
        raise e

    for e in (NotFound(), HttpError(404), HttpError(429)):
        with pytest.raises(type(e)):
            call(e)
    assert b.state == "closed"
    m = b.metrics()
    assert (m["ignored"], m["failures"]) == (3, 0)
    with pytest.raises(HttpError):
        call(HttpError(503))
    assert b.state == "open"
    assert b.metrics()["failures"] == 1


def test_exclude_accepts_a_single_class(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker("one", clock=clock, exclude=KeyError)
    empty: dict[str, int] = {}
    with pytest.raises(KeyError):
        b.call(empty.__getitem__, "k")
    assert b.metrics()["ignored"] == 1


def test_a_raising_predicate_counts_a_failure_and_raises(clock: fusebox.ManualClock) -> None:
    def bad(e: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    b = fusebox.CircuitBreaker("p", clock=clock, exclude=[bad])
    with pytest.raises(RuntimeError, match="predicate bug") as info:
        b.call(lambda: 1 / 0)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert b.metrics()["failures"] == 1


class Stop(BaseException):
    pass


def test_base_exception_releases_the_probe_slot(clock: fusebox.ManualClock) -> None:
    b = fusebox.CircuitBreaker(
        "probe", clock=clock, consecutive_failures=1, open_timeout=1.0,
        half_open_max_calls=1, success_threshold=1,
    )

    @b
    def f(exc: BaseException | None) -> str:
        if exc is not None:
            raise exc
        return "ok"

    with pytest.raises(Boom):
        f(Boom())
    clock.advance(1.0)
    with pytest.raises(Stop):
        f(Stop())  # the probe neither succeeded nor failed: slot given back
    assert b.state == "half_open"
    m = b.metrics()
    assert (m["failures"], m["successes"], m["ignored"]) == (1, 0, 0)
    assert f(None) == "ok"
    assert b.state == "closed"


def test_decorating_a_non_callable_is_a_type_error(clock: fusebox.ManualClock) -> None:
    with pytest.raises(TypeError, match="func"):
        make(clock)(42)  # type: ignore[type-var]


@fusebox.CircuitBreaker("pickled")
def module_level(x: int) -> int:
    return x + 1


def test_a_decorated_module_function_pickles_by_name() -> None:
    import pickle

    g = pickle.loads(pickle.dumps(module_level))
    assert g is module_level
    assert g(1) == 2
