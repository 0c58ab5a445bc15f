"""Interactive SAM sessions (ml_backend.serving.interactive): embed once per image, answer many prompts."""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from ml_backend.serving import rle_to_mask
from ml_backend.serving.interactive import (
    EmbeddingCache,
    PromptError,
    SamSession,
    SamUnavailableError,
    sam_session,
    sam_sessions_clear,
)

IMAGE = np.random.default_rng(3).integers(0, 255, (48, 80, 3), dtype=np.uint8)  # H=48, W=80


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")  # lossless: the same pixels as the array
    return buffer.getvalue()


@pytest.fixture
def session(tiny_models, tiny_cache):
    sam_sessions_clear()
    yield sam_session(tiny_models, cache_bytes=1024**2, cache=tiny_cache)
    sam_sessions_clear()


@pytest.fixture
def encoder_runs(session):
    runs: list[int] = []
    hook = session.segmenter.model.image_encoder.register_forward_hook(lambda *_: runs.append(1))
    yield runs
    hook.remove()


def sized(n: int) -> SimpleNamespace:
    return SimpleNamespace(nbytes=n)


def test_the_cache_keeps_the_most_recently_used_within_its_byte_budget():
    cache = EmbeddingCache(100, nbytes_of=lambda e: e.nbytes)
    a, b, c = sized(40), sized(40), sized(40)
    assert cache.put("a", a) and cache.put("b", b)
    assert cache.get("a") is a  # a becomes the most recently used
    cache.put("c", c)  # 120 > 100: b, the least recently used, goes
    assert cache.keys() == ["a", "c"] and cache.nbytes == 80 and cache.evictions == 1
    assert cache.get("b") is None
    assert not cache.put("huge", sized(101)) and "huge" not in cache  # larger than the whole budget
    cache.resize(50)
    assert cache.keys() == ["c"] and cache.nbytes == 40


def test_replacing_an_entry_counts_its_bytes_once():
    cache = EmbeddingCache(100, nbytes_of=lambda e: e.nbytes)
    cache.put("a", sized(30))
    cache.put("a", sized(60))
    assert len(cache) == 1 and cache.nbytes == 60


def test_a_click_on_a_new_image_embeds_it_and_later_clicks_reuse_it(session, encoder_runs):
    reads = []

    def image():
        reads.append(1)
        return png(IMAGE)

    first = session.predict(key="f1", image=image, points=[{"x": 40, "y": 24, "positive": True}])
    second = session.predict(key="f1", image=image, points=[(40, 24, True), (5, 5, False)], box=[0, 0, 60, 40])
    box_only = session.predict(key="f1", image=image, box=[10, 10, 50, 30])
    assert [r["cached"] for r in (first, second, box_only)] == [False, True, True]
    assert len(encoder_runs) == 1 and len(reads) == 1  # the image is not even read again
    for result in (first, second, box_only):
        assert result["mask"]["size"] == [48, 80]
        assert rle_to_mask(result["mask"]).shape == (48, 80)
        assert isinstance(result["score"], float)
    assert session.stats.embeds == 1 and session.stats.cache_hits == 2 and session.stats.predictions == 3


def test_an_array_image_gives_the_same_mask_as_its_encoded_bytes(session):
    points = [{"x": 20, "y": 30}]
    from_bytes = session.predict(key="bytes", image=lambda: png(IMAGE), points=points)
    from_array = session.predict(key="array", image=lambda: IMAGE, points=points)
    assert from_bytes["mask"] == from_array["mask"]


def test_concurrent_clicks_on_one_frame_embed_it_once(session, encoder_runs):
    start = threading.Barrier(4)
    results = []

    def worker(i: int) -> None:
        start.wait()
        results.append(session.predict(key="shared", image=lambda: IMAGE, points=[(10 + i, 10, True)]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 4 and len(encoder_runs) == 1
    assert sorted(r["cached"] for r in results) == [False, True, True, True]


def test_a_failed_embedding_is_not_cached_and_the_next_click_retries(session, encoder_runs):
    def broken():
        raise OSError("storage hiccup")

    with pytest.raises(OSError):
        session.predict(key="k", image=broken, points=[(1, 1, True)])
    assert session.predict(key="k", image=lambda: IMAGE, points=[(1, 1, True)])["cached"] is False


@pytest.mark.parametrize(
    ("points", "box", "message"),
    [
        ([], None, "a prompt needs at least one point or a box"),
        ([{"x": 1}], None, "points[0] must be {x, y, positive}"),
        ([(float("nan"), 1, True)], None, "points[0] must have finite coordinates"),
        ([], [10, 10, 5, 20], "box must be [x0, y0, x1, y1]"),
        ([], [1, 2, 3], "box must be [x0, y0, x1, y1]"),
    ],
)
def test_bad_prompts_raise_prompt_error_before_embedding(session, encoder_runs, points, box, message):
    with pytest.raises(PromptError, match=message.replace("[", r"\[").replace("{", r"\{")):
        session.predict(key="k", image=lambda: IMAGE, points=points, box=box)
    assert encoder_runs == []


def test_one_session_per_configuration_whose_budget_follows_the_caller(tiny_models, tiny_cache):
    sam_sessions_clear()
    first = sam_session(tiny_models, cache_bytes=10_000, cache=tiny_cache)
    again = sam_session(tiny_models, cache_bytes=20_000, cache=tiny_cache)
    assert again is first and first.cache.max_bytes == 20_000
    sam_sessions_clear()


def test_a_missing_configuration_is_sam_unavailable(tmp_path):
    with pytest.raises(SamUnavailableError, match="does not exist"):
        sam_session(tmp_path / "nope.json")


def test_a_sam_that_fails_to_load_is_sam_unavailable_and_not_kept(tiny_models, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(tiny_models.read_text().replace('"sam/tiny_sam.pth"', '"missing.pth"'))
    for _ in range(2):  # not cached: each call tries again
        with pytest.raises(SamUnavailableError, match=r"models\.sam\.checkpoint .*missing\.pth.*no such checkpoint"):
            sam_session(config)


def test_a_negative_cache_budget_is_refused(tiny):
    with pytest.raises(ValueError, match="cache_bytes"):
        SamSession(tiny("sam"), cache_bytes=-1)
