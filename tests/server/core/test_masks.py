import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from server.core.errors import ApplicationError
from server.core.masks import rle_area, rle_counts_parse, rle_counts_string, rle_decode, rle_encode, rle_validate


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


# --- compressed counts parsed here, never by pycocotools (issue 10, item 2) -----------------------------


def disc_mask(height: int = 500, width: int = 500) -> np.ndarray:
    """A disc with scattered noise: long and short runs, deltas of both signs."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:height, :width]
    return ((yy - height / 2) ** 2 + (xx - width / 3) ** 2 < (height / 3) ** 2) | (rng.random((height, width)) < 0.02)


def counts_of(runs: list[int]) -> str:
    """Compressed string of arbitrary run lengths (zero-length runs kept), as pycocotools writes them."""
    return rle_counts_string(np.asarray(runs))


def refused(rle, height: int, width: int) -> str:
    with pytest.raises(ApplicationError) as err:
        rle_validate(rle, height=height, width=width, field="instances[2].mask")
    assert err.value.message.startswith("instances[2].mask")
    return err.value.message


def test_counts_covering_fewer_pixels_than_the_mask_are_refused():
    # pycocotools decodes this (3 runs summing to 5 of 6 pixels) and leaves the last pixel to chance.
    message = refused({"size": [2, 3], "counts": counts_of([1, 2, 2])}, 2, 3)
    assert "cover 5 pixels, fewer than the 6 of a 2x3 (HxW) mask" in message


def test_counts_covering_more_pixels_than_the_mask_are_refused():
    message = refused({"size": [2, 3], "counts": counts_of([1, 2, 2, 3])}, 2, 3)
    assert "cover 8 pixels, more than the 6" in message


def test_a_delta_giving_a_negative_run_is_refused():
    # runs 2, 1, 1 then a delta of -3 against run 1: run 3 would be -2.
    counts = counts_of([2, 1, 1]) + counts_of([-3])
    message = refused({"size": [2, 3], "counts": counts}, 2, 3)
    assert "run 3 has a negative length (-2)" in message


def test_a_truncated_value_is_refused():
    # 'P' (0x20 set) announces another group that never comes: pycocotools reads past the string.
    message = refused({"size": [4, 5], "counts": "1P"}, 4, 5)
    assert "ends inside a value" in message


@pytest.mark.parametrize("char", [" ", "/", "p", "~", "é", "\x00"])
def test_characters_outside_the_rle_alphabet_are_refused(char):
    good = rle_encode(disc_mask(20, 20))["counts"]
    message = refused({"size": [20, 20], "counts": good[:3] + char + good[3:]}, 20, 20)
    assert f"character {char!r} at position 3 is not an RLE character" in message


def test_an_overlong_value_is_refused_before_any_arithmetic():
    message = refused({"size": [4, 5], "counts": "o" * 40 + "0"}, 4, 5)
    assert "more than 6 characters" in message


@pytest.mark.parametrize(
    "size",
    [[0, 5], [5, 0], [-1, 5], [True, 5], [20000, 20000], [4.0, 5]],
)
def test_sizes_must_be_positive_integers_within_the_maximum_side(size):
    message = refused({"size": size, "counts": "0"}, 4, 5)
    assert "size must be [height, width], each between 1 and 16384" in message


def test_uncompressed_counts_are_checked_too():
    assert "run 1 has a negative length (-1)" in refused({"size": [2, 3], "counts": [4, -1, 3]}, 2, 3)
    assert "not an integer" in refused({"size": [2, 3], "counts": [1, True, 4]}, 2, 3)
    assert "not an integer" in refused({"size": [2, 3], "counts": [1, 2.5, 2.5]}, 2, 3)
    assert "cover 7 pixels" in refused({"size": [2, 3], "counts": [1, 2, 4]}, 2, 3)


def test_every_truncation_of_a_valid_mask_is_refused_cleanly_in_a_fresh_process():
    """Validating each prefix of a 500×500 mask's counts once aborted Python (`malloc(): corrupted top size`).
    In a subprocess, so that a crash fails this test instead of killing the test run."""
    script = textwrap.dedent(
        """
        import numpy as np
        from server.core.errors import ApplicationError
        from server.core.masks import rle_encode, rle_validate
        from tests.server.core.test_masks import disc_mask

        counts = rle_encode(disc_mask())["counts"]
        clean = 0
        for n in range(len(counts)):
            try:
                rle_validate({"size": [500, 500], "counts": counts[:n]}, height=500, width=500)
            except ApplicationError as exc:
                assert "invalid RLE counts" in exc.message, exc.message
                clean += 1
        print(clean, len(counts))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    clean, total = (int(v) for v in done.stdout.split())
    assert total > 1000 and clean == total  # every proper prefix, the empty one included


def test_two_encodings_of_one_mask_are_stored_as_one_string():
    mask = disc_mask(40, 30)
    canonical = rle_encode(mask)
    runs = rle_counts_parse(canonical["counts"], height=40, width=30).tolist()
    # The same pixels with zero-length runs inserted (split runs): a different string, the same mask.
    padded = [runs[0], 0, 0, *runs[1:3], 0, 0, *runs[3:], 0]
    other = {"size": [40, 30], "counts": counts_of(padded)}
    assert other["counts"] != canonical["counts"]
    assert np.array_equal(rle_decode(other), mask.astype(np.uint8))
    assert rle_validate(other, height=40, width=30) == canonical
    assert rle_validate({"size": [40, 30], "counts": padded}, height=40, width=30) == canonical
    assert rle_validate(canonical, height=40, width=30) == canonical


def test_canonical_strings_are_what_pycocotools_writes():
    rng = np.random.default_rng(3)
    for height, width, p in [(1, 1, 0.5), (1, 1, 1.0), (7, 9, 0.0), (7, 9, 1.0), (33, 65, 0.3), (120, 90, 0.97)]:
        mask = rng.random((height, width)) < p
        expected = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode("ascii")
        runs = rle_counts_parse(expected, height=height, width=width)
        assert rle_counts_string(runs) == expected
        assert np.array_equal(rle_decode({"size": [height, width], "counts": expected}), mask.astype(np.uint8))
        assert rle_area({"size": [height, width], "counts": expected}) == int(mask.sum())


def test_a_4k_mask_round_trips():
    mask = np.zeros((2160, 3840), dtype=bool)
    mask[100:2000, 50:3000] = True
    mask[::7, ::5] = False
    rle = rle_encode(mask)
    assert rle_validate(rle, height=2160, width=3840) == rle
    assert np.array_equal(rle_decode(rle), mask.astype(np.uint8))
