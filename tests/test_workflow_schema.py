"""workflow/schemas/config.schema.yaml: both configs pass, every object rejects unknown keys."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
CONFIGS = {name: REPO / f"workflow/config/{name}.yaml" for name in ("smoke", "paper")}


def load(name: str) -> dict:
    return yaml.safe_load(CONFIGS[name].read_text())


def errors(config: dict) -> list[jsonschema.ValidationError]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return list(validator.iter_errors(config))


def objects(config: dict, path: tuple[str, ...] = ()):
    """Every object (dict) in the config with its path, the root included."""
    yield path, config
    for key, value in config.items():
        if isinstance(value, dict):
            yield from objects(value, (*path, key))


def test_the_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_config_passes_and_names_its_results_folder(name):
    config = load(name)
    assert errors(config) == []
    assert config["name"] == name


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_an_unknown_key_is_rejected_at_every_level(name):
    config = load(name)
    paths = [path for path, _ in objects(config)]
    assert len(paths) == 6
    for path in paths:
        bad = copy.deepcopy(config)
        target = bad
        for key in path:
            target = target[key]
        target["colour"] = "red"
        found = errors(bad)
        assert [tuple(e.absolute_path) for e in found] == [path], path
        assert "'colour' was unexpected" in found[0].message


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("name",), "Smoke Test", "does not match"),
        (("kernels", "quick"), "yes", "is not of type 'boolean'"),
        (("bench", "sweep"), "sweep.txt", "does not match"),
        (("bench", "training"), "/abs/path.yaml", "does not match"),
        (("data", "tokenizer"), "bert", "does not match"),
        (("data", "source"), "s3://bucket", "does not match"),
        (("data", "max_docs"), 0, "is less than the minimum of 1"),
        (("data", "workers"), "2", "is not of type 'integer'"),
        (("train", "linear"), None, "is not of type 'string'"),
        (("eval", "tasks"), [], "should be non-empty"),
        (("eval", "tasks"), ["piqa", "piqa"], "has non-unique elements"),
        (("eval", "limit"), "all", "is not of type 'integer', 'null'"),
        (("eval", "batch_size"), 0, "is less than the minimum of 1"),
    ],
)
def test_a_bad_value_is_rejected_naming_its_key(path, value, message):
    config = load("smoke")
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    found = errors(config)
    assert [tuple(e.absolute_path) for e in found] == [path]
    assert message in found[0].message


@pytest.mark.parametrize("section", ["kernels", "bench", "data", "train", "eval"])
def test_a_missing_key_is_rejected(section):
    config = load("paper")
    removed = next(iter(config[section]))
    del config[section][removed]
    found = errors(config)
    assert [tuple(e.absolute_path) for e in found] == [(section,)]
    assert f"'{removed}' is a required property" in found[0].message
