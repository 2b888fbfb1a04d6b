"""Batched greedy decoding with LitGPT's KV cache, prompts of different lengths in one batch.

Prompts are right-padded and prefilled together at positions ``0 .. longest-1``; afterwards each
row decodes at its own position (LitGPT's batched ``input_pos`` of shape (B, 1)). A row's padding
sits in cache slots beyond its prompt: its mask hides them, and its own generated tokens overwrite
them one by one before any query may see them, so every row gets exactly the tokens it would get
alone. Attention runs through the model's own layers: a Fastmax model decodes with
``FastmaxSelfAttention``'s KV-cache path.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from litgpt.model import GPT


@torch.inference_mode()
def greedy_generate(
    model: GPT,
    prompts: list[list[int]],
    max_new_tokens: int,
    is_done: Callable[[int, list[int]], bool],
) -> list[list[int]]:
    """Greedy continuations of token ``prompts``, at most ``max_new_tokens`` tokens each.

    After each new token, ``is_done(row, tokens_so_far)`` says whether that row is finished; its
    later tokens are not recorded, and decoding ends when every row is finished. Returns the new
    tokens of each row (the token that finished a row included).
    """
    if not prompts or any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("prompts must be a non-empty list of non-empty token lists")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    longest = max(len(prompt) for prompt in prompts)
    total = longest + max_new_tokens - 1
    if total > model.config.block_size:
        raise ValueError(
            f"prompt of {longest} tokens plus {max_new_tokens} new tokens exceeds the model's "
            f"context of {model.config.block_size} tokens"
        )
    device = model.lm_head.weight.device
    rows = len(prompts)
    batch = torch.zeros((rows, longest), dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        batch[row, : len(prompt)] = torch.tensor(prompt, dtype=torch.long)
    lengths = torch.tensor([len(prompt) for prompt in prompts], device=device)

    model.set_kv_cache(
        batch_size=rows, max_seq_length=total, device=device, dtype=model.lm_head.weight.dtype
    )
    try:
        positions = torch.arange(longest, device=device)
        logits = model(batch, input_pos=positions, input_pos_maxp1=longest)
        tokens = logits[torch.arange(rows, device=device), lengths - 1].argmax(dim=-1)
        generated: list[list[int]] = [[] for _ in prompts]
        done = [False] * rows
        position = lengths
        for step in range(max_new_tokens):
            for row, token in enumerate(tokens.tolist()):
                if not done[row]:
                    generated[row].append(token)
                    done[row] = is_done(row, generated[row])
            if all(done) or step == max_new_tokens - 1:
                break
            logits = model(
                tokens.view(rows, 1),
                input_pos=position.view(rows, 1),
                input_pos_maxp1=int(position.max()) + 1,
            )
            tokens = logits[:, -1].argmax(dim=-1)
            position = position + 1
    finally:
        model.clear_kv_cache()
    return generated
