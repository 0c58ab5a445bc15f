import numpy as np
import pytest

from server.core.errors import ApplicationError
from server.core.masks import rle_decode, rle_encode, rle_validate


def test_rle_round_trip_keeps_every_pixel():
    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) > 0.6
    rle = rle_encode(mask)
    assert rle["size"] == [37, 53] and isinstance(rle["counts"], str)
    assert np.array_equal(rle_decode(rle), mask.astype(np.uint8))


def test_rle_of_wrong_size_is_refused_with_both_sizes():
    rle = rle_encode(np.ones((10, 20), dtype=bool))
    with pytest.raises(ApplicationError) as err:
        rle_validate(rle, height=20, width=10)
    assert "10x20" in err.value.message and "20x10" in err.value.message


def test_uncompressed_counts_are_accepted_and_normalised():
    out = rle_validate({"size": [2, 3], "counts": [1, 4, 1]}, height=2, width=3)
    assert isinstance(out["counts"], str)
    assert rle_decode(out).sum() == 4


@pytest.mark.parametrize(
    "bad",
    [
        {"size": [2, 3], "counts": [1, 2]},  # does not cover H*W
        {"size": [2, 3], "counts": 12},
        {"size": "2x3", "counts": ""},
        ["not", "a", "dict"],
    ],
)
def test_malformed_rle_is_refused(bad):
    with pytest.raises(ApplicationError):
        rle_validate(bad, height=2, width=3)
