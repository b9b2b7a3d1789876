"""Arrays through the stores' codec: what np.load gives, also when the header is already known."""

from __future__ import annotations

import io

import numpy as np
import pytest

from hazflow.store.codec import array_bytes, load_array

ARRAYS = {
    "hazard curve": np.linspace(1e-1, 1e-6, 44),
    "ints": np.arange(12).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(15.0).reshape(3, 5)),
    "empty": np.zeros((2, 0)),
    "disaggregation float32": np.random.default_rng(0).random((3, 25, 17, 16)).astype(np.float32),
    "big-endian": np.arange(5, dtype=">f8"),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_load_array_is_np_load_first_time_and_after(name):
    data = array_bytes(ARRAYS[name])
    expected = np.load(io.BytesIO(data), allow_pickle=False)
    for _ in range(2):  # the second read takes the known-header path
        got = load_array(data)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        assert got.flags.writeable and got.flags.f_contiguous == expected.flags.f_contiguous
        got[...] = 0  # a copy: the bytes are not changed under a later reader
    np.testing.assert_array_equal(load_array(data), expected)
