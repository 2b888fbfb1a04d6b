"""``python -m fastmax.evaluate ARGS``: lm-eval's command line with ``fastmax-litgpt`` known."""

from lm_eval.__main__ import cli_evaluate

import fastmax.evaluate  # noqa: F401  (registers the model)

if __name__ == "__main__":
    cli_evaluate()
