from __future__ import annotations

import pathlib

import pytest

import fusebox

REPO = pathlib.Path(__file__).resolve().parents[3]
SCENARIOS = REPO / "scenarios"


@pytest.fixture
def clock() -> fusebox.ManualClock:
    return fusebox.ManualClock()


class Boom(Exception):
    """A dependency failure."""


class NotFound(Exception):
    """An error that says nothing about the dependency's health (like a 404)."""
