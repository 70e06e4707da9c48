"""cnnlib.history.spread: runs that all give the same value say so in words."""

from cnnlib.history import spread


def test_equal_values_read_as_one_value_in_all_runs():
    assert spread([9, 9, 9]) == "9.0 in all 3 runs"
    assert spread([9, 9, 9], short=True) == "9.0 in all 3 runs"
    # equal as printed: 80.01 % and 80.04 % both print 80.0 %
    assert spread([0.8001, 0.8004], "{:.1%}") == "80.0% in all 2 runs"


def test_equal_values_with_runs_that_never_reached():
    assert spread([3, None, 3]) == "3.0 in each of 2 runs; never in 1 of 3 runs"
    assert spread([3, None, 3], short=True) == "3.0 in each of 2 runs (1 of 3 never)"


def test_values_that_differ_keep_the_mean_and_spread():
    assert spread([3, 3, 4]) == "3.3 ± 0.6 (3.0 to 4.0, 3 runs)"
    assert spread([7]) == "7.0"
