"""LitGPT integration: model configs with the attention kind, the attention swap, loading.

Importing this package registers the Fastmax configs (``pythia-<size>-linear``,
``fastmax-tiny``, ``fastmax-tiny-linear``) with LitGPT's config registry.
"""

from fastmax.model.attention import FastmaxSelfAttention, NoAttention, masked_fastmax
from fastmax.model.configs import (
    ATTENTIONS,
    ModelConfig,
    model_config,
    model_names,
    register_configs,
)
from fastmax.model.gpt import GPT, load_model

register_configs()

__all__ = [
    "ATTENTIONS",
    "GPT",
    "FastmaxSelfAttention",
    "ModelConfig",
    "NoAttention",
    "load_model",
    "masked_fastmax",
    "model_config",
    "model_names",
    "register_configs",
]
