"""``python -m fastmax.evaluate ARGS``: lm-eval's command line with ``fastmax-litgpt`` known.

Running this module imports the package ``fastmax.evaluate`` first, which registers the model.
"""

from lm_eval.__main__ import cli_evaluate

if __name__ == "__main__":
    cli_evaluate()
