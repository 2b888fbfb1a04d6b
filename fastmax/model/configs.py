"""Model configurations: LitGPT's ``Config`` plus the attention it uses, and the registered names.

:class:`ModelConfig` adds the field ``attention`` ("softmax", "fastmax" or "none") and the Fastmax
options to LitGPT's ``Config``; ``model_config.yaml`` in every checkpoint therefore says which
attention the weights were trained with. The rule ``name ends in "-linear"`` if and only if
``attention == "fastmax"`` is enforced, so the name alone tells the two apart.

:func:`register_configs` adds to LitGPT's registry (``litgpt.config.configs`` and
``name_to_config``), from outside and without copying LitGPT files:

* ``pythia-<size>-linear`` for every Pythia shape from 14M to 1.4B: the shape of LitGPT's
  ``pythia-<size>`` (the softmax variant, used under its own name) with Fastmax attention and
  the context of the original Fastmax experiments: 4096 tokens up to 410M, 8192 for 1B and 1.4B;
* ``fastmax-tiny`` and ``fastmax-tiny-linear``: two layers, 128 wide, a 128-token context and the
  GPT-2 vocabulary (50257), small enough to train in about a minute on two CPU cores.

The Fastmax entries carry ``attention="fastmax"``, a key plain ``litgpt.Config`` does not accept:
``litgpt.Config.from_name("pythia-1.4b-linear")`` raises instead of building a softmax model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import litgpt.config
from litgpt.config import Config

from fastmax.ops.checks import BACKENDS, NORMALIZE_MODES, ORDERS

ATTENTIONS = ("softmax", "fastmax", "none")
FASTMAX_SUFFIX = "-linear"
PYTHIA_SIZES = ("14m", "31m", "70m", "160m", "410m", "1b", "1.4b")
LINEAR_BLOCK_SIZE = {
    "14m": 4096,
    "31m": 4096,
    "70m": 4096,
    "160m": 4096,
    "410m": 4096,
    "1b": 8192,
    "1.4b": 8192,
}
TINY = dict(
    name="fastmax-tiny",
    hf_config=dict(org="fastmax", name="fastmax-tiny"),
    block_size=128,
    vocab_size=50257,
    padding_multiple=128,
    n_layer=2,
    n_embd=128,
    n_head=4,
)


@dataclass
class ModelConfig(Config):
    """LitGPT's ``Config`` with the attention kind and the Fastmax options.

    ``attention``: "softmax" (LitGPT's own attention), "fastmax" (``fastmax.fastmax_attention``)
    or "none" (the attention op replaced by its values, an upper bound on throughput).
    The ``fastmax_*`` fields are passed to ``fastmax.fastmax_attention`` when it is used.
    """

    attention: str = "softmax"
    fastmax_normalize: str | None = "token"
    fastmax_p: int = 1
    fastmax_a0: float = 1.0
    fastmax_a1: float = 1.0
    fastmax_a2: float = 1.0
    fastmax_backend: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.name.endswith(FASTMAX_SUFFIX) != (self.attention == "fastmax"):
            raise ValueError(
                f"model {self.name!r} has attention {self.attention!r}: names ending in "
                f"{FASTMAX_SUFFIX!r} are Fastmax models and Fastmax models must be named so"
            )
        if self.fastmax_normalize not in NORMALIZE_MODES:
            raise ValueError(
                f"fastmax_normalize must be one of {NORMALIZE_MODES}, "
                f"got {self.fastmax_normalize!r}"
            )
        if isinstance(self.fastmax_p, bool) or self.fastmax_p not in ORDERS:
            raise ValueError(f"fastmax_p must be one of {ORDERS}, got {self.fastmax_p!r}")
        if self.fastmax_backend not in BACKENDS:
            raise ValueError(
                f"fastmax_backend must be one of {BACKENDS}, got {self.fastmax_backend!r}"
            )
        if self.attention != "softmax":
            unsupported = {
                "latent_attention": self.latent_attention,
                "sliding_window_size": self.sliding_window_size,
                "attention_logit_softcapping": self.attention_logit_softcapping,
            }
            used = sorted(key for key, value in unsupported.items() if value is not None)
            if used:
                raise ValueError(
                    f"attention {self.attention!r} supports plain causal self-attention only; "
                    f"model {self.name!r} sets {used}"
                )

    @property
    def fastmax_options(self) -> dict[str, Any]:
        """Keyword arguments for ``fastmax.fastmax_attention`` (all but ``causal``)."""
        return dict(
            normalize=self.fastmax_normalize,
            p=self.fastmax_p,
            a0=self.fastmax_a0,
            a1=self.fastmax_a1,
            a2=self.fastmax_a2,
            backend=self.fastmax_backend,
        )


def _entries() -> list[dict[str, Any]]:
    registry = litgpt.config.name_to_config
    entries = [dict(copy.deepcopy(TINY))]
    tiny_linear = copy.deepcopy(TINY)
    tiny_linear.update(
        name="fastmax-tiny" + FASTMAX_SUFFIX,
        hf_config=dict(org="fastmax", name="fastmax-tiny" + FASTMAX_SUFFIX),
        attention="fastmax",
    )
    entries.append(tiny_linear)
    for size in PYTHIA_SIZES:
        entry = copy.deepcopy(registry[f"pythia-{size}"])
        name = f"pythia-{size}{FASTMAX_SUFFIX}"
        entry.update(
            name=name,
            hf_config=dict(org="fastmax", name=name),
            block_size=LINEAR_BLOCK_SIZE[size],
            attention="fastmax",
        )
        entries.append(entry)
    return entries


def register_configs() -> list[str]:
    """Add the Fastmax and tiny configs to LitGPT's registry (idempotent); return their names."""
    names = []
    for entry in _entries():
        name = entry["name"]
        if name not in litgpt.config.name_to_config:
            litgpt.config.configs.append(entry)
            litgpt.config.name_to_config[name] = entry
        names.append(name)
    return names


def model_names() -> list[str]:
    """Every model name: the softmax Pythia names, their Fastmax twins and the tiny pair."""
    softmax = [f"pythia-{size}" for size in PYTHIA_SIZES]
    return softmax + register_configs()


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The :class:`ModelConfig` registered as ``name``, with ``overrides`` of its fields."""
    register_configs()
    if name not in litgpt.config.name_to_config:
        raise ValueError(f"unknown model name {name!r}; known names: {model_names()}")
    return ModelConfig.from_name(name, **overrides)
