"""Evaluation with EleutherAI's lm-evaluation-harness, on the model as trained.

* :mod:`fastmax.evaluate.model`: the lm-eval model ``fastmax-litgpt`` (a checkpoint of
  ``fastmax train`` with its own attention, Fastmax or softmax);
* :mod:`fastmax.evaluate.run`: ``fastmax evaluate`` (results JSON + one-line-per-task CSV);
* :mod:`fastmax.evaluate.report`: ``fastmax report`` (softmax vs Fastmax side by side);
* ``tasks/``: local task YAMLs and their data for offline runs (:mod:`.task_data`).

Importing this package registers ``fastmax-litgpt`` with lm-eval's model registry, lazily (torch
and LitGPT are imported when lm-eval first asks for the class), so that
``lm_eval.simple_evaluate(model="fastmax-litgpt", ...)`` works after ``import fastmax.evaluate``
and ``python -m fastmax.evaluate run --model fastmax-litgpt --model_args checkpoint_dir=DIR ...``
is lm-eval's own command line with the model available. lm-eval 0.4.13 discovers no models
through package entry points, so there is no plugin registration to install.
"""

import lm_eval.models  # noqa: F401  (lm-eval's models first: its registry loads them only when empty)
from lm_eval.api.registry import model_registry

MODEL_NAME = "fastmax-litgpt"

if MODEL_NAME not in model_registry:
    model_registry.register(MODEL_NAME, target="fastmax.evaluate.model:FastmaxLitGPT")
