"""``generate_until``: batched KV-cache greedy decoding, stop sequences, refused settings."""

from __future__ import annotations

import pytest
import torch
from eval_helpers import gpt2_tokenizer, requests, twin_checkpoints

import fastmax.model.attention
from fastmax.evaluate.generate import greedy_generate
from fastmax.evaluate.model import FastmaxLitGPT
from fastmax.model import load_model

PROMPTS = ["The LORD is my shepherd; I shall not want. He maketh me", "And", "Grace unto you"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-generate")
    return twin_checkpoints(root, gpt2_tokenizer(root / "tokenizer"), seed=1)


def plain_greedy(model, prompt: list[int], steps: int) -> list[int]:
    """Greedy decoding without a cache: the whole sequence through the model at every step."""
    tokens = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            tokens.append(int(model(torch.tensor([tokens]))[0, -1].argmax()))
    return tokens[len(prompt) :]


@pytest.mark.parametrize("attention", ["softmax", "fastmax"])
def test_batched_cached_decoding_equals_plain_greedy(checkpoints, attention, monkeypatch):
    model = load_model(checkpoints[attention], dtype=torch.float64)
    lm = FastmaxLitGPT(checkpoints[attention], dtype="float64")
    prompts = [lm.tok_encode(text) for text in PROMPTS]
    assert len({len(prompt) for prompt in prompts}) == len(prompts)
    calls = []
    real = fastmax.model.attention.masked_fastmax
    monkeypatch.setattr(
        fastmax.model.attention,
        "masked_fastmax",
        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs),
    )
    generated = greedy_generate(model, prompts, 12, lambda row, tokens: False)
    assert generated == [plain_greedy(model, prompt, 12) for prompt in prompts]
    assert len(calls) == (12 * model.config.n_layer if attention == "fastmax" else 0)


def test_decoding_stops_when_every_row_is_done(checkpoints):
    model = load_model(checkpoints["softmax"])
    steps = []
    model.register_forward_hook(lambda module, args, output: steps.append(1))
    generated = greedy_generate(
        model, [[464], [464, 3303]], 20, lambda row, tokens: len(tokens) >= 2 + row
    )
    assert [len(tokens) for tokens in generated] == [2, 3]
    assert len(steps) == 3  # prefill + two single-token steps


def test_generate_until_cuts_at_the_first_stop_sequence(checkpoints):
    lm = FastmaxLitGPT(checkpoints["fastmax"], batch_size=2, dtype="float64")
    free = lm.generate_until(
        requests("generate_until", [(text, {"until": [], "max_gen_toks": 24}) for text in PROMPTS])
    )
    tokens = lm.tok_encode(free[0])
    late, early = lm.tok_decode(tokens[12:14]), lm.tok_decode(tokens[5:7])
    assert late in free[0] and early in free[0]
    expected = free[0][: min(free[0].index(late), free[0].index(early))]
    assert len(expected) < len(free[0])

    steps = []
    lm.model.register_forward_hook(lambda module, args, output: steps.append(1))
    stopped = lm.generate_until(
        requests("generate_until", [(PROMPTS[0], {"until": [late, early], "max_gen_toks": 24})])
    )
    assert stopped == [expected]
    assert len(steps) < 24  # decoding ended at the stop, not at the budget


def test_generate_until_takes_a_single_stop_string_and_the_default_budget(checkpoints):
    lm = FastmaxLitGPT(checkpoints["softmax"], max_gen_toks=6)
    steps = []
    lm.model.register_forward_hook(lambda module, args, output: steps.append(1))
    (text,) = lm.generate_until(requests("generate_until", [("And", {"until": "\n\n\n"})]))
    assert text and "\n\n\n" not in text
    assert len(steps) == 6  # the prefill gives the first token, five steps the other five


@pytest.mark.parametrize(
    ("gen_kwargs", "match"),
    [
        ({"until": ["\n"], "do_sample": True}, "greedy"),
        ({"until": ["\n"], "temperature": 0.7}, "greedy"),
        ({"until": ["\n"], "top_p": 0.9}, "top_p"),
        ({"until": ["\n"], "max_gen_toks": 128}, "max_gen_toks"),
        ({"until": [""]}, "until"),
    ],
)
def test_unsupported_generation_settings_are_refused(checkpoints, gen_kwargs, match):
    lm = FastmaxLitGPT(checkpoints["softmax"])
    with pytest.raises(ValueError, match=match):
        lm.generate_until(requests("generate_until", [("And", gen_kwargs)]))


def test_prompt_plus_budget_beyond_the_context_is_refused(checkpoints):
    model = load_model(checkpoints["softmax"])
    with pytest.raises(ValueError, match="context"):
        greedy_generate(model, [[1] * 100], 40, lambda row, tokens: False)
