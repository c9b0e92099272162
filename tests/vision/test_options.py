"""`vision.options`: option values refuse bad settings when they are made, naming the setting; a bool is never a
number; a package can make its values raise its own error."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pydantic import model_validator

from vision.errors import InputError, QCError
from vision.options import Count, Options, Share, is_int, is_number, whole_number


class Knobs(Options):
    count: Count = 1
    share: Share = 0.5
    label: str = "a"

    @model_validator(mode="after")
    def _label_fits(self) -> Knobs:
        if len(self.label) > self.count:
            raise ValueError(f"label {self.label!r} is longer than count {self.count}")
        return self


class OwnError(QCError):
    pass


class OwnKnobs(Knobs):
    error = OwnError


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"count": 0}, "count: input should be greater than or equal to 1, got 0"),
        ({"count": True}, "count: input should be a valid integer, got True"),
        ({"count": "3"}, "count: input should be a valid integer, got '3'"),
        ({"share": 1.5}, "share: input should be less than or equal to 1, got 1.5"),
        ({"share": False}, "share: input should be a valid number, got False"),
        ({"label": "abc"}, "Knobs: label 'abc' is longer than count 1"),
        ({"cuont": 2}, "Knobs has no setting 'cuont'"),
    ],
)
def test_a_bad_setting_is_named_when_the_value_is_made(settings: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        Knobs(**settings)  # type: ignore[arg-type]


def test_values_are_frozen_and_take_ints_for_shares() -> None:
    knobs = Knobs(count=3, share=1, label="abc")
    assert (knobs.count, knobs.share) == (3, 1.0)
    with pytest.raises(ValueError, match="frozen"):
        knobs.count = 4  # type: ignore[misc]


def test_a_package_makes_its_values_raise_its_own_error() -> None:
    with pytest.raises(OwnError, match="count: input should be greater than or equal to 1"):
        OwnKnobs(count=0)
    assert not issubclass(OwnError, InputError)


@pytest.mark.parametrize(
    ("value", "whole", "number"),
    [(3, True, True), (0, True, True), (2.5, False, True), (True, False, False), (False, False, False),
     ("3", False, False), (None, False, False), (np.int64(3), False, False)],
)
def test_is_int_and_is_number(value: object, whole: bool, number: bool) -> None:
    assert (is_int(value), is_number(value)) == (whole, number)


@pytest.mark.parametrize(
    ("value", "bounds", "result"),
    [
        (3, {}, 3),
        (np.int32(7), {}, 7),
        (0, {"minimum": 0}, 0),
        (0, {}, "k must be an int >= 1, got 0"),
        (True, {}, "k must be an int >= 1, got True"),
        (np.True_, {}, "k must be an int >= 1"),
        (2.0, {}, "k must be an int >= 1, got 2.0"),
        (9, {"maximum": 8}, "k must be an int in [1, 8], got 9"),
    ],
)
def test_whole_number(value: object, bounds: dict[str, int], result: int | str) -> None:
    if isinstance(result, str):
        with pytest.raises(InputError, match=re.escape(result)):
            whole_number("k", value, **bounds)
    else:
        assert whole_number("k", value, **bounds) == result and type(whole_number("k", value, **bounds)) is int


def test_whole_number_raises_the_callers_error() -> None:
    with pytest.raises(OwnError, match="k must be an int >= 1"):
        whole_number("k", -1, error=OwnError)
