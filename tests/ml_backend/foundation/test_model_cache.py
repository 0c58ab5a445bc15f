"""The process model cache is bounded by the bytes of its models' weights: least recently used out, so many
configuration variants cannot exhaust a worker's memory."""

from __future__ import annotations

import torch

from ml_backend.foundation.config import ClapSettings
from ml_backend.foundation.loading import LoadContext
from ml_backend.foundation.policy import ModelPolicy
from ml_backend.foundation.registry import ModelCache, component_nbytes

CPU = LoadContext()
MODEL_BYTES = (100 * 10 + 10) * 4  # nn.Linear(100, 10) in float32: weight + bias


class Holder:
    """A stage facade: a torch model in an attribute."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.name = "holder"


def linear_loader(settings, context):
    return Holder(torch.nn.Linear(100, 10))


def variant(n: int) -> ClapSettings:
    """Configuration variants that differ in one setting: each is its own cache entry."""
    return ClapSettings(path=f"/models/clap-{n}")


def test_component_bytes_count_parameters_and_buffers_once():
    model = torch.nn.Sequential(torch.nn.Linear(100, 10), torch.nn.BatchNorm1d(10))
    expected = (1000 + 10 + 10 + 10) * 4 + (10 + 10) * 4 + 8  # Linear, BN weight+bias, running stats, batch count
    assert component_nbytes(model) == expected
    assert component_nbytes(Holder(model)) == expected
    tied = Holder(model)
    tied.same = model  # the same module twice
    assert component_nbytes(tied) == expected


def test_loading_more_variants_than_fit_evicts_the_least_recently_used():
    cache = ModelCache({"clap": linear_loader}, max_bytes=3 * MODEL_BYTES)
    first, second, third = (cache.get("clap", variant(n), CPU) for n in (1, 2, 3))
    assert cache.nbytes == 3 * MODEL_BYTES and cache.evictions == 0
    assert cache.get("clap", variant(1), CPU) is first  # used again: now the most recent

    cache.get("clap", variant(4), CPU)
    assert [key[1] for key in cache.keys()] == [variant(3), variant(1), variant(4)]  # variant 2 went
    assert cache.nbytes <= 3 * MODEL_BYTES and cache.evictions == 1
    assert cache.get("clap", variant(1), CPU) is first and cache.get("clap", variant(3), CPU) is third
    assert cache.get("clap", variant(2), CPU) is not second  # loaded again
    assert cache.load_counts["clap"] == 5

    for n in range(5, 50):  # many variants: memory stays bounded
        cache.get("clap", variant(n), CPU)
    assert len(cache) == 3 and cache.nbytes == 3 * MODEL_BYTES


def test_a_model_above_the_whole_budget_is_kept_alone_and_a_smaller_budget_evicts():
    cache = ModelCache({"clap": linear_loader}, max_bytes=MODEL_BYTES // 2)
    model = cache.get("clap", variant(1), CPU)
    assert len(cache) == 1 and cache.get("clap", variant(1), CPU) is model  # the one in use stays
    cache.get("clap", variant(2), CPU)
    assert [key[1] for key in cache.keys()] == [variant(2)]

    cache.resize(None)
    for n in range(3, 6):
        cache.get("clap", variant(n), CPU)
    assert len(cache) == 4
    cache.apply(ModelPolicy(model_cache_bytes=2 * MODEL_BYTES))  # the server's AVS_MODEL_CACHE_BYTES
    assert cache.max_bytes == 2 * MODEL_BYTES and [key[1] for key in cache.keys()] == [variant(4), variant(5)]
    cache.apply(ModelPolicy())  # no budget in the policy: unchanged
    assert cache.max_bytes == 2 * MODEL_BYTES


def test_the_tiny_models_count_their_real_weights(tiny_config):
    cache = ModelCache(max_bytes=None)
    sam = cache.get("sam", tiny_config.models.sam, CPU)
    tensors = [*sam.model.parameters(), *sam.model.buffers()]
    assert cache.nbytes == sum(t.nelement() * t.element_size() for t in tensors) > 0
    cache.resize(cache.nbytes + 1)
    cache.get("clap", tiny_config.models.clap, CPU)  # does not fit beside SAM: SAM goes
    assert [key[0] for key in cache.keys()] == ["clap"]
