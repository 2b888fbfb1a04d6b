"""Registered model configs: shapes, context lengths, and the attention kind they record."""

from __future__ import annotations

import litgpt
import pytest
from litgpt.config import name_to_config

from fastmax.model import ModelConfig, model_config, model_names
from fastmax.model.configs import PYTHIA_SIZES

SHAPE_FIELDS = ("n_layer", "n_embd", "n_head", "n_query_groups", "intermediate_size", "head_size")


@pytest.mark.parametrize("size", PYTHIA_SIZES)
def test_linear_twin_has_the_pythia_shape_and_fastmax_attention(size):
    softmax = model_config(f"pythia-{size}")
    linear = model_config(f"pythia-{size}-linear")
    assert softmax.attention == "softmax"
    assert linear.attention == "fastmax"
    for name in (*SHAPE_FIELDS, "padded_vocab_size", "rotary_percentage", "parallel_residual"):
        assert getattr(linear, name) == getattr(softmax, name), name


def test_original_context_lengths_are_kept():
    assert model_config("pythia-14m-linear").block_size == 4096
    assert model_config("pythia-410m-linear").block_size == 4096
    assert model_config("pythia-1.4b-linear").block_size == 8192
    assert model_config("pythia-1.4b").block_size == name_to_config["pythia-1.4b"]["block_size"]


def test_tiny_models_use_the_gpt2_vocabulary():
    for name in ("fastmax-tiny", "fastmax-tiny-linear"):
        config = model_config(name)
        assert config.vocab_size == 50257
        assert config.padded_vocab_size >= 50257
    assert model_config("fastmax-tiny-linear").attention == "fastmax"
    assert model_config("fastmax-tiny").attention == "softmax"


def test_every_listed_name_builds():
    names = model_names()
    assert len(names) == len(set(names)) == 2 * len(PYTHIA_SIZES) + 2
    for name in names:
        assert model_config(name).name == name


def test_plain_litgpt_refuses_a_fastmax_config():
    with pytest.raises(TypeError, match="attention"):
        litgpt.Config.from_name("pythia-410m-linear")


def test_softmax_name_with_fastmax_attention_is_refused():
    with pytest.raises(ValueError, match="-linear"):
        model_config("pythia-70m", attention="fastmax")
    with pytest.raises(ValueError, match="-linear"):
        model_config("pythia-70m-linear", attention="softmax")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attention": "flash"}, "attention must be one of"),
        ({"fastmax_normalize": "l1"}, "fastmax_normalize"),
        ({"fastmax_p": 3}, "fastmax_p"),
        ({"fastmax_backend": "triton"}, "fastmax_backend"),
        ({"sliding_window_size": 64}, "sliding_window_size"),
    ],
)
def test_bad_attention_options_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        model_config("fastmax-tiny-linear", **overrides)


def test_unknown_name_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match=r"unknown model name 'pythia-3b'.*pythia-1\.4b-linear"):
        model_config("pythia-3b")


def test_fastmax_options_follow_the_fields():
    config = model_config("fastmax-tiny-linear", fastmax_normalize=None, fastmax_a0=2.0)
    assert config.fastmax_options == dict(
        normalize=None, p=1, a0=2.0, a1=1.0, a2=1.0, backend="auto"
    )
    assert isinstance(config, ModelConfig)
