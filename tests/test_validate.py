import numpy as np
import pytest

from collapse_lab.validate import MAX_INT, ArgumentError, integer, number, seed


def test_integer_accepts_ints_and_names_the_range():
    assert integer("M", np.int64(5), 1) == 5 and isinstance(integer("M", 5), int)
    with pytest.raises(ArgumentError, match=r"M must be an int >= 2 and <= 10000000; got 1"):
        integer("M", 1, 2)
    with pytest.raises(ValueError, match="<= 3"):
        integer("k", 4, 0, 3)
    for bad in (2.0, "2", True, None):
        with pytest.raises(TypeError, match="must be an int"):
            integer("n", bad)


def test_bounds_are_the_callers_not_guessed_from_the_name():
    for name in ("n", "seed", "base_seed", "seeds"):  # the name never changes the range
        with pytest.raises(ArgumentError, match=f"<= {MAX_INT}"):
            integer(name, MAX_INT + 1, 0)
    assert integer("seed", 10**15, 0, hi=None) == 10**15  # hi=None: no upper bound, stated by the caller
    assert seed("seed", 10**15) == 10**15 and seed("s", np.uint64(2**63)) == 2**63
    with pytest.raises(ArgumentError, match=r"seed must be an int >= 0; got -1"):
        seed("seed", -1)
    with pytest.raises(ArgumentError, match=r"<= 9223372036854775807"):
        seed("seed", 2**63, hi=2**63 - 1)
    for bad in (1.0, "3", True, None):
        with pytest.raises(TypeError, match="seed must be an int"):
            seed("seed", bad)


def test_number_intervals():
    assert number("q", 0.25, 0, 0.5, lo_open=True) == 0.25
    with pytest.raises(ValueError, match=r"q must be a finite number > 0 and <= 0.5; got 0.0"):
        number("q", 0, 0, 0.5, lo_open=True)
    with pytest.raises(ValueError, match="< 1"):
        number("f", 1.0, 0, 1, hi_open=True)
    for bad in (float("nan"), float("inf"), "1", False):
        with pytest.raises(TypeError, match="finite number"):
            number("x", bad)
