"""Shared pieces of the evaluation tests: tiny checkpoints with GPT-2's tokenizer, HF export."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lm_eval.api.instance import Instance

from fastmax.data.tokenizer import build_gpt2
from fastmax.model import GPT, model_config
from fastmax.train import save_checkpoint

REPO = Path(__file__).resolve().parent.parent
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def gpt2_tokenizer(folder: Path) -> Path:
    """GPT-2's tokenizer, built offline by ``fastmax tokenizer gpt2``'s code."""
    return build_gpt2(folder)


def write_checkpoint(model: GPT, folder: Path, tokenizer_dir: Path) -> Path:
    """Save ``model`` with the training code's checkpoint writer; returns the checkpoint folder."""
    fabric = L.Fabric(accelerator="cpu", devices=1, precision="32-true")
    state = {"model": fabric.setup(model), "iter_num": 0, "step_count": 0}
    save_checkpoint(fabric, state, tokenizer_dir, folder / "lit_model.pth", run_config={})
    return folder


def twin_checkpoints(root: Path, tokenizer_dir: Path, seed: int = 0) -> dict[str, Path]:
    """A freshly initialised ``fastmax-tiny`` (softmax) and ``fastmax-tiny-linear`` (Fastmax)
    checkpoint holding the same weights: only the attention differs."""
    torch.manual_seed(seed)
    softmax = GPT(model_config("fastmax-tiny"))
    fastmax = GPT(model_config("fastmax-tiny-linear"))
    fastmax.load_state_dict(softmax.state_dict())
    return {
        "softmax": write_checkpoint(softmax, root / "softmax", tokenizer_dir),
        "fastmax": write_checkpoint(fastmax, root / "fastmax", tokenizer_dir),
    }


def export_hf(checkpoint_dir: Path, out: Path) -> Path:
    """The softmax checkpoint as a Hugging Face GPT-NeoX folder (config, weights, tokenizer).

    Weights are renamed by LitGPT's own converter (``convert_lit_checkpoint``'s GPT-NeoX path);
    the config is GPT-NeoX's with the same shape, rotary fraction and base.
    """
    from litgpt.scripts.convert_lit_checkpoint import copy_weights_gpt_neox
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from fastmax.model import load_model

    model = load_model(checkpoint_dir)
    config = model.config
    assert config.attention == "softmax", "only softmax checkpoints have a Hugging Face twin"
    hf_config = GPTNeoXConfig(
        vocab_size=config.padded_vocab_size,
        hidden_size=config.n_embd,
        num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head,
        intermediate_size=config.intermediate_size,
        hidden_act="gelu",
        max_position_embeddings=config.block_size,
        layer_norm_eps=config.norm_eps,
        use_parallel_residual=config.parallel_residual,
        tie_word_embeddings=False,
        attention_bias=config.bias,
        rotary_pct=config.rotary_percentage,
        rotary_emb_base=config.rope_base,
        bos_token_id=50256,
        eos_token_id=50256,
    )
    weights: dict[str, torch.Tensor] = {}
    copy_weights_gpt_neox(config, weights, model.state_dict())
    hf_model = GPTNeoXForCausalLM(hf_config)
    hf_model.load_state_dict(weights, strict=True)
    hf_model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        shutil.copy(checkpoint_dir / name, out / name)
    return out


def requests(kind: str, arguments: list[tuple[Any, ...]]) -> list[Instance]:
    """lm-eval ``Instance`` objects of one request type."""
    return [
        Instance(request_type=kind, doc={}, arguments=args, idx=index)
        for index, args in enumerate(arguments)
    ]
