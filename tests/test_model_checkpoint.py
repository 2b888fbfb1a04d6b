"""Checkpoints: written atomically with their model config, reloaded as the same model."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
import yaml
from litgpt import Config

from fastmax.model import GPT, FastmaxSelfAttention, load_model, model_config
from fastmax.train import save_checkpoint

VOCAB = 512


def save(model: GPT, path, run_config=None):
    fabric = L.Fabric(accelerator="cpu", devices=1, precision="32-true")
    wrapped = fabric.setup(model)
    optimizer = fabric.setup_optimizers(torch.optim.AdamW(wrapped.parameters()))
    state = {"model": wrapped, "optimizer": optimizer, "iter_num": 3, "step_count": 3}
    save_checkpoint(fabric, state, None, path / "lit_model.pth", run_config=run_config or {})


@pytest.mark.parametrize("name", ["fastmax-tiny", "fastmax-tiny-linear"])
def test_checkpoint_reloads_to_the_same_logits(tmp_path, name):
    torch.manual_seed(0)
    model = GPT(model_config(name, vocab_size=VOCAB, fastmax_a0=1.5)).eval()
    x = torch.randint(0, VOCAB, (2, 30))
    with torch.no_grad():
        expected = model(x)
    save(model, tmp_path / "step-00000003", {"seed": 7})
    loaded = load_model(tmp_path / "step-00000003")
    assert loaded.config == model.config
    assert type(loaded.transformer.h[0].attn) is type(model.transformer.h[0].attn)
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)
    saved = yaml.safe_load((tmp_path / "step-00000003" / "train_config.yaml").read_text())
    assert saved == {"seed": 7}
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000003"]


def test_fastmax_checkpoint_cannot_be_loaded_as_softmax(tmp_path):
    save(GPT(model_config("fastmax-tiny-linear", vocab_size=VOCAB)), tmp_path / "final")
    saved = yaml.safe_load((tmp_path / "final" / "model_config.yaml").read_text())
    assert saved["attention"] == "fastmax"
    assert saved["name"] == "fastmax-tiny-linear"
    with pytest.raises(TypeError, match="attention"):
        Config.from_checkpoint(tmp_path / "final")
    assert isinstance(load_model(tmp_path / "final").transformer.h[1].attn, FastmaxSelfAttention)


def test_saving_again_replaces_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    first = GPT(model_config("fastmax-tiny-linear", vocab_size=VOCAB))
    second = GPT(model_config("fastmax-tiny-linear", vocab_size=VOCAB))
    save(first, tmp_path / "final")
    save(second, tmp_path / "final")
    loaded = load_model(tmp_path / "final")
    for a, b in zip(loaded.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]


def test_load_model_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model_config\.yaml"):
        load_model(tmp_path)


def test_tokenizer_files_travel_with_the_checkpoint(tmp_path):
    tokenizer = tmp_path / "tokenizer"
    tokenizer.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tokenizer / name).write_text(json.dumps({"name": name}))
    (tokenizer / "notes.txt").write_text("not a tokenizer file")
    fabric = L.Fabric(accelerator="cpu", devices=1, precision="32-true")
    model = fabric.setup(GPT(model_config("fastmax-tiny-linear", vocab_size=VOCAB)))
    target = tmp_path / "final" / "lit_model.pth"
    save_checkpoint(fabric, {"model": model}, tokenizer, target, run_config={})
    copied = sorted(p.name for p in target.parent.iterdir())
    assert copied == [
        "lit_model.pth",
        "model_config.yaml",
        "tokenizer.json",
        "tokenizer_config.json",
        "train_config.yaml",
    ]
