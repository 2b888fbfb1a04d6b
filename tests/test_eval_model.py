"""The lm-eval model ``fastmax-litgpt``: parity with lm-eval's ``hf`` model, Fastmax under test."""

from __future__ import annotations

import pytest
import torch
from eval_helpers import export_hf, gpt2_tokenizer, requests, twin_checkpoints
from lm_eval import utils
from lm_eval.api.registry import get_model

import fastmax.model.attention
from fastmax.evaluate import MODEL_NAME
from fastmax.evaluate.model import FastmaxLitGPT
from fastmax.model import FastmaxSelfAttention

BLOCK = 128  # context of the tiny models
SHORT = [
    ("The LORD is my shepherd;", " I shall not want."),
    ("", "In the beginning God created the heaven and the earth."),
    ("Grace unto you, and peace ", "be multiplied."),
    ("And the earth was without form, and void;", " and darkness"),
    ("Jesus wept", "."),
]
LONG_CONTEXT = ("and it came to pass " * 60, " that")  # > BLOCK tokens: cut on the left
LONG_DOCUMENT = " ".join(
    f"Verse {n}: the word of the Lord endureth for ever, and this is the word." for n in range(40)
)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-model")
    return twin_checkpoints(root, gpt2_tokenizer(root / "tokenizer"))


@pytest.fixture(scope="module")
def hf_model(checkpoints, tmp_path_factory, monkeypatch_module):
    from lm_eval.models.huggingface import HFLM

    folder = export_hf(checkpoints["softmax"], tmp_path_factory.mktemp("hf") / "model")
    return HFLM(pretrained=str(folder), device="cpu", dtype="float32", batch_size=3)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield patch


def test_registered_with_lm_eval_next_to_its_own_models():
    assert get_model(MODEL_NAME) is FastmaxLitGPT
    assert get_model("hf").__name__ == "HFLM"


def test_loglikelihood_matches_lm_eval_hf_model(checkpoints, hf_model):
    ours = FastmaxLitGPT(checkpoints["softmax"], batch_size=3)
    batch = requests("loglikelihood", [*SHORT, LONG_CONTEXT])
    expected = hf_model.loglikelihood(batch)
    got = ours.loglikelihood(batch)
    assert len(got) == len(expected) == len(batch)
    for (value, greedy), (reference, reference_greedy) in zip(got, expected, strict=True):
        assert abs(value - reference) <= 1e-4
        assert greedy == reference_greedy
    values = [value for value, _ in got]
    assert max(values) - min(values) > 10.0  # distinct requests: a mix-up would show
    alone = FastmaxLitGPT(checkpoints["softmax"], batch_size=1).loglikelihood(batch)
    assert [v for v, _ in alone] == pytest.approx(values, abs=1e-4)


def test_rolling_loglikelihood_matches_lm_eval_hf_model(checkpoints, hf_model):
    ours = FastmaxLitGPT(checkpoints["softmax"], batch_size=3)
    assert len(ours.tok_encode(LONG_DOCUMENT)) > 4 * BLOCK
    batch = requests("loglikelihood_rolling", [(LONG_DOCUMENT,), ("A short one.",)])
    expected = hf_model.loglikelihood_rolling(batch)
    got = ours.loglikelihood_rolling(batch)
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-4)


def test_generate_until_matches_lm_eval_hf_model(checkpoints, hf_model):
    ours = FastmaxLitGPT(checkpoints["softmax"], batch_size=3)
    batch = requests(
        "generate_until",
        [
            ("The LORD is", {"until": ["\n\n"], "max_gen_toks": 8}),
            ("In the beginning God created", {"until": ["\n\n"], "max_gen_toks": 8}),
            ("And", {"until": ["\n\n"], "max_gen_toks": 8}),
        ],
    )
    got = ours.generate_until(batch)
    assert got == hf_model.generate_until(batch)
    assert all(len(ours.tok_encode(text)) >= 4 for text in got)


def _window_sum(model: FastmaxLitGPT, text: str) -> float:
    """The rolling log-likelihood by lm-eval's window layout, one plain forward per window."""
    total = 0.0
    windows = utils.get_rolling_token_windows(
        token_list=model.tok_encode(text),
        prefix_token=model.prefix_token_id,
        max_seq_len=model.max_length,
        context_len=1,
    )
    for context, continuation in map(utils.make_disjoint_window, windows):
        tokens = torch.tensor([(context + continuation)[:-1]])
        with torch.no_grad():
            logprobs = torch.log_softmax(model.model(tokens)[0].double(), dim=-1)
        scored = logprobs[-len(continuation) :]
        total += float(scored.gather(-1, torch.tensor(continuation)[:, None]).sum())
    return total


@pytest.mark.parametrize("attention", ["softmax", "fastmax"])
def test_rolling_windows_score_a_document_longer_than_the_context(checkpoints, attention):
    ours = FastmaxLitGPT(checkpoints[attention], batch_size=4, dtype="float64")
    documents = [LONG_DOCUMENT, LONG_DOCUMENT[: len(LONG_DOCUMENT) // 3], "Amen."]
    got = ours.loglikelihood_rolling(requests("loglikelihood_rolling", [(d,) for d in documents]))
    assert got == pytest.approx([_window_sum(ours, d) for d in documents], rel=1e-9)
    per_token = got[0] / len(ours.tok_encode(LONG_DOCUMENT))
    assert -15.0 < per_token < -5.0  # every token scored once, none dropped or doubled


def test_fastmax_checkpoint_is_evaluated_with_fastmax(checkpoints, monkeypatch):
    calls = {"fastmax": 0, "softmax": 0}
    real_fastmax = fastmax.model.attention.fastmax_attention
    real_sdpa = torch.nn.functional.scaled_dot_product_attention

    def fastmax_spy(*args, **kwargs):
        calls["fastmax"] += 1
        return real_fastmax(*args, **kwargs)

    def sdpa_spy(*args, **kwargs):
        calls["softmax"] += 1
        return real_sdpa(*args, **kwargs)

    monkeypatch.setattr(fastmax.model.attention, "fastmax_attention", fastmax_spy)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", sdpa_spy)
    batch = requests("loglikelihood", SHORT)

    linear = FastmaxLitGPT(checkpoints["fastmax"], batch_size=2)
    assert all(isinstance(block.attn, FastmaxSelfAttention) for block in linear.model.transformer.h)
    assert linear.get_model_info()["attention"] == "fastmax"
    fastmax_values = [value for value, _ in linear.loglikelihood(batch)]
    assert calls == {"fastmax": 3 * 2, "softmax": 0}  # 3 batches x 2 layers

    calls.update(fastmax=0, softmax=0)
    softmax_values = [
        value for value, _ in FastmaxLitGPT(checkpoints["softmax"]).loglikelihood(batch)
    ]
    assert calls["fastmax"] == 0 and calls["softmax"] == len(SHORT) * 2
    differences = [abs(a - b) for a, b in zip(fastmax_values, softmax_values, strict=True)]
    assert min(differences) > 1e-3  # same weights, different attention


def test_seq_max_checkpoint_refuses_padded_batches(tmp_path, checkpoints):
    import yaml

    folder = tmp_path / "seq_max"
    folder.mkdir()
    for path in checkpoints["fastmax"].iterdir():
        (folder / path.name).symlink_to(path)
    config = yaml.safe_load((checkpoints["fastmax"] / "model_config.yaml").read_text())
    config["fastmax_normalize"] = "seq_max"
    (folder / "model_config.yaml").unlink()
    (folder / "model_config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="batch_size=1"):
        FastmaxLitGPT(folder, batch_size=2)
    assert FastmaxLitGPT(folder, batch_size=1).loglikelihood(requests("loglikelihood", SHORT[:1]))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": "auto"}, ValueError, "batch_size"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"max_batch_size": 8}, ValueError, "max_batch_size"),
        ({"dtype": "int8"}, ValueError, "dtype"),
        ({"device": "gpu0"}, ValueError, "device 'gpu0'"),
        pytest.param(
            {"device": "cuda"},
            ValueError,
            "no CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible"),
        ),
    ],
)
def test_bad_model_arguments_are_named(checkpoints, kwargs, error, match):
    with pytest.raises(error, match=match):
        FastmaxLitGPT(checkpoints["softmax"], **kwargs)


def test_missing_checkpoint_and_tokenizer_are_named(tmp_path, checkpoints):
    with pytest.raises(FileNotFoundError, match="nowhere' does not exist"):
        FastmaxLitGPT(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "lit_model.pth").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"has no model_config\.yaml"):
        FastmaxLitGPT(tmp_path / "half")
    with pytest.raises(FileNotFoundError, match="tokenizer_dir"):
        FastmaxLitGPT(checkpoints["softmax"], tokenizer_dir=tmp_path)
