import numpy as np
import pytest

from collapse_lab.validate import ArgumentError, integer, number


def test_integer_accepts_ints_and_names_the_range():
    assert integer("M", np.int64(5), 1) == 5 and isinstance(integer("M", 5), int)
    with pytest.raises(ArgumentError, match=r"M must be an int >= 2 and <= 10000000; got 1"):
        integer("M", 1, 2)
    with pytest.raises(ValueError, match="<= 3"):
        integer("k", 4, 0, 3)
    for bad in (2.0, "2", True, None):
        with pytest.raises(TypeError, match="must be an int"):
            integer("n", bad)


def test_number_intervals():
    assert number("q", 0.25, 0, 0.5, lo_open=True) == 0.25
    with pytest.raises(ValueError, match=r"q must be a finite number > 0 and <= 0.5; got 0.0"):
        number("q", 0, 0, 0.5, lo_open=True)
    with pytest.raises(ValueError, match="< 1"):
        number("f", 1.0, 0, 1, hi_open=True)
    for bad in (float("nan"), float("inf"), "1", False):
        with pytest.raises(TypeError, match="finite number"):
            number("x", bad)
