"""Training configurations: the shipped files, overrides and the errors of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from train_helpers import TRAIN_CONFIGS

from fastmax.cli import main as cli_main
from fastmax.model import model_config
from fastmax.train import load_train_config, train

SMOKE = TRAIN_CONFIGS / "smoke-linear.yaml"


def write(tmp_path: Path, data: dict, name: str = "train.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def smoke_data() -> dict:
    return yaml.safe_load(SMOKE.read_text())


@pytest.mark.parametrize("variant", ["regular", "linear"])
def test_paper_configs_hold_the_published_settings(variant):
    config = load_train_config(TRAIN_CONFIGS / f"paper-{variant}.yaml")
    model = model_config(config.model.name, **config.model.overrides)
    assert model.attention == ("fastmax" if variant == "linear" else "softmax")
    assert (model.n_layer, model.n_embd, model.n_head) == (24, 2048, 16)  # Pythia-1.4B
    assert model.block_size == 8192
    assert config.train.max_tokens == 3_000_000_000
    assert config.train.global_batch_size == 256
    assert config.train.micro_batch_size == 4
    assert config.optimizer.class_path == "torch.optim.AdamW"
    assert config.optimizer.init_args == {"lr": 1e-3, "weight_decay": 0.1, "betas": [0.9, 0.95]}
    assert config.train.min_lr == 5e-5
    assert config.train.lr_warmup_steps == 100
    assert config.train.max_norm == 1.0
    assert config.precision == "bf16-true"
    assert config.seed == 42
    assert config.resume == "auto"


def test_paper_configs_differ_only_in_attention_and_paths():
    regular = yaml.safe_load((TRAIN_CONFIGS / "paper-regular.yaml").read_text())
    linear = yaml.safe_load((TRAIN_CONFIGS / "paper-linear.yaml").read_text())
    differing = sorted(key for key in regular if regular[key] != linear[key])
    assert differing == ["model", "out_dir"]


@pytest.mark.parametrize("variant", ["regular", "linear"])
def test_smoke_configs_are_tiny_cpu_runs(variant):
    config = load_train_config(TRAIN_CONFIGS / f"smoke-{variant}.yaml")
    model = model_config(config.model.name, **config.model.overrides)
    assert model.vocab_size == 50257
    assert model.attention == ("fastmax" if variant == "linear" else "softmax")
    assert config.accelerator == "cpu"
    assert config.precision == "32-true"


def test_gpu_ddp_check_config_runs_one_and_two_gpus_with_the_same_global_batch():
    path = TRAIN_CONFIGS / "gpu-ddp-check-linear.yaml"
    config = load_train_config(path)
    two = load_train_config(path, ["devices=2"])
    assert model_config(config.model.name, **config.model.overrides).attention == "fastmax"
    assert (config.accelerator, config.precision, config.strategy) == ("cuda", "bf16-true", "ddp")
    assert (config.devices, two.devices) == (1, 2)
    steps = config.train.max_tokens // (
        config.train.global_batch_size * config.train.max_seq_length
    )
    assert steps == 30
    assert config.train.global_batch_size % (config.train.micro_batch_size * 2) == 0


def test_overrides_and_out_replace_values():
    config = load_train_config(
        SMOKE,
        ["data.path=/data/shards", "train.max_tokens=1024", "model.overrides.vocab_size=512"],
        out_dir="/tmp/run",
    )
    assert config.data.path == "/data/shards"
    assert config.train.max_tokens == 1024
    assert config.model.overrides == {"vocab_size": 512}
    assert config.out_dir == "/tmp/run"
    assert load_train_config(SMOKE, ["tokenizer_dir=null"]).tokenizer_dir is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(learning_rate=1e-3), r"unknown keys \['learning_rate'\]"),
        (lambda d: d["train"].update(warmup=3), r"train: unknown keys \['warmup'\]"),
        (lambda d: d["data"].update(workers=3), r"data: unknown keys \['workers'\]"),
        (lambda d: d.pop("model"), "missing required key 'model'"),
        (lambda d: d["train"].update(micro_batch_size="four"), "micro_batch_size must be int"),
        (lambda d: d.update(precision="fp8"), "precision must be one of"),
        (lambda d: d.update(resume="sometimes"), "resume must be bool or one of 'auto'"),
        (lambda d: d["train"].update(max_steps=10), "train.max_steps is not honoured"),
        (lambda d: d["train"].update(max_tokens=None), "train.max_tokens must be"),
        (lambda d: d["optimizer"]["init_args"].update(momentum=0.9), "momentum"),
        (lambda d: d["optimizer"].update(class_path="torch.optim.Nope"), "not importable"),
        (lambda d: d["model"].update(name="pythia-3b"), "unknown model name 'pythia-3b'"),
        (lambda d: d.update(loggers=["tensorboard"]), "loggers must include 'csv'"),
        (lambda d: d.update(keep_checkpoints=0), "keep_checkpoints"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(tmp_path, edit, message):
    data = smoke_data()
    edit(data)
    path = write(tmp_path, data)
    with pytest.raises(ValueError, match=message) as error:
        load_train_config(path)
    assert str(path) in str(error.value) or "model name" in message


def test_bad_override_syntax_is_refused():
    with pytest.raises(ValueError, match="key=value"):
        load_train_config(SMOKE, ["train.max_tokens"])
    with pytest.raises(ValueError, match="not a section"):
        load_train_config(SMOKE, ["seed.value=3"])


def test_cli_reports_config_errors_with_exit_code_2(tmp_path, capsys):
    data = smoke_data()
    data["colour"] = "blue"
    code = cli_main(["train", "--config", str(write(tmp_path, data))])
    assert code == 2
    assert "fastmax train: error:" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [\n")
    assert cli_main(["train", "--config", str(broken)]) == 2
    assert "broken.yaml' is not valid YAML" in capsys.readouterr().err


def test_missing_shards_are_named(tmp_path):
    config = load_train_config(SMOKE, [f"data.path={tmp_path}"], out_dir=tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"train/index\.json"):
        train(config)


def fake_checkpoint(out_dir: Path, model_name: str) -> None:
    step = out_dir / "step-00000002"
    step.mkdir(parents=True)
    (step / "lit_model.pth").write_bytes(b"")
    from dataclasses import asdict

    (step / "model_config.yaml").write_text(yaml.safe_dump(asdict(model_config(model_name))))


def shards(tmp_path: Path) -> Path:
    for split in ("train", "val"):
        (tmp_path / "data" / split).mkdir(parents=True)
        (tmp_path / "data" / split / "index.json").write_text("{}")
    return tmp_path / "data"


def test_resume_modes_check_the_output_folder(tmp_path):
    data = shards(tmp_path)
    out = tmp_path / "out"
    base = [f"data.path={data}", "tokenizer_dir=null"]
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(load_train_config(SMOKE, [*base, "resume=true"], out_dir=out))
    fake_checkpoint(out, "fastmax-tiny-linear")
    with pytest.raises(ValueError, match="already holds checkpoints"):
        train(load_train_config(SMOKE, [*base, "resume=false"], out_dir=out))


def test_resuming_with_another_model_is_refused(tmp_path):
    data = shards(tmp_path)
    fake_checkpoint(tmp_path / "out", "fastmax-tiny")
    config = load_train_config(
        SMOKE, [f"data.path={data}", "tokenizer_dir=null"], out_dir=tmp_path / "out"
    )
    with pytest.raises(ValueError, match=r"another model \(fields \['attention'"):
        train(config)
