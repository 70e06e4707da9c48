"""format_table prints arithmetic rows as an aligned plain-text table."""

import pytest

from cnnlib import format_table


def test_columns_headers_and_alignment():
    rows = [{"name": "conv1", "shape": (6, 28, 28), "params": 456},
            {"name": "fc", "shape": (10,), "params": 14455392}]
    lines = format_table(rows, ["name", "shape", "params"], {"params": "Params"}).splitlines()
    assert lines[0].split() == ["name", "shape", "Params"]
    assert lines[2].split() == ["conv1", "6x28x28", "456"]
    assert lines[3].endswith("14,455,392")
    assert lines[2].endswith("       456")  # numbers right-aligned under their header


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="no rows"):
        format_table([])
    with pytest.raises(KeyError, match="macs"):
        format_table([{"r": 3}], ["macs"])
