"""The codes and names shared with the core: ``fusebox._codes`` is generated
from the core (core/tests/generated_codes.rs fails when it is stale); here,
the module as built answers with exactly those."""

from __future__ import annotations

from typing import get_args

import pytest

import fusebox
from fusebox import _codes
from fusebox._types import Config, PhaseName, StateName


def test_the_literal_types_are_the_codes() -> None:
    assert get_args(StateName) == _codes.STATES
    assert get_args(PhaseName) == _codes.PHASES
    assert get_args(_codes.RejectReason) == _codes.REJECT_REASONS
    assert get_args(_codes.OutcomeName) == _codes.OUTCOMES


def test_config_has_one_key_per_core_field() -> None:
    assert set(Config.__annotations__) == set(_codes.CONFIG_FIELDS.values())
    b = fusebox.CircuitBreaker("codes")
    assert set(b.config()) == set(_codes.CONFIG_FIELDS.values())


def test_states_phases_and_reasons_come_from_the_codes() -> None:
    clock = fusebox.ManualClock()
    b = fusebox.CircuitBreaker("codes", clock=clock, consecutive_failures=1)
    assert b.state in _codes.STATES
    b.force_open()
    assert b.phase in _codes.PHASES
    with pytest.raises(fusebox.CircuitOpenError) as e:
        with b:
            pass
    assert e.value.reason == _codes.REJECT_FORCED_OPEN
    b.disable()
    assert b.phase == "disabled" and b.phase in _codes.PHASES

