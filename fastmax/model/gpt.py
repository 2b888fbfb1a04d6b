"""LitGPT's ``GPT`` built from a :class:`ModelConfig`, and loading it back from a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from litgpt.model import GPT as LitGPT
from litgpt.model import CausalSelfAttention
from typing_extensions import Self

from fastmax.model.attention import ATTENTION_CLASSES
from fastmax.model.configs import ModelConfig, model_config

CONFIG_FILE = "model_config.yaml"
WEIGHTS_FILE = "lit_model.pth"


class GPT(LitGPT):
    """LitGPT's GPT whose attention layers follow ``config.attention``.

    Softmax models are LitGPT's model unchanged; for "fastmax" and "none" every block's
    ``attn`` is replaced by the matching subclass of ``CausalSelfAttention`` (same parameters).
    """

    def __init__(self, config: ModelConfig) -> None:
        if not isinstance(config, ModelConfig):
            raise TypeError(
                "config must be a fastmax.model.ModelConfig (it records the attention kind), "
                f"got {type(config).__name__}"
            )
        super().__init__(config)
        attention_class = ATTENTION_CLASSES[config.attention]
        if attention_class is not CausalSelfAttention:
            for block_idx, block in enumerate(self.transformer.h):
                block.attn = attention_class(config, block_idx)

    @classmethod
    def from_name(cls, name: str, **kwargs: Any) -> Self:
        return cls(model_config(name, **kwargs))


def load_model(
    checkpoint_dir: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> GPT:
    """Rebuild the model saved in ``checkpoint_dir`` (``model_config.yaml`` + ``lit_model.pth``).

    The attention kind comes from the saved config, so a Fastmax checkpoint always comes back
    as a Fastmax model. Accepts both a training checkpoint (weights under the key "model") and a
    bare state dict; the file is memory-mapped, so the optimizer state of a training checkpoint
    is never read. Returns the model in eval mode on ``device`` (and ``dtype`` if given).
    """
    checkpoint_dir = Path(checkpoint_dir)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (checkpoint_dir / name).is_file():
            raise FileNotFoundError(
                f"checkpoint_dir {str(checkpoint_dir)!r} has no {name}; expected a folder written "
                "by `fastmax train` (model_config.yaml and lit_model.pth)"
            )
    config = ModelConfig.from_file(checkpoint_dir / CONFIG_FILE)
    state = torch.load(
        checkpoint_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True, mmap=True
    )
    weights = state.get("model", state)
    with torch.device("meta"):
        model = GPT(config)
    model.load_state_dict(weights, strict=True, assign=True)
    model.cos, model.sin = model.rope_cache(device=torch.device("cpu"))
    return model.to(device=device, dtype=dtype).eval()
