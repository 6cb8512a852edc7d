"""The examples in the adapters' docs run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "name",
    ["fusebox", "fusebox._http", "fusebox.httpx", "fusebox.requests", "fusebox.asgi", "fusebox.prometheus", "fusebox.admin",
     "fusebox._hedge"],
)
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    failed, tried = doctest.testmod(module)
    assert tried > 0 and failed == 0
