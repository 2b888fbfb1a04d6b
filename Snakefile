"""Fastmax: every artifact of the paper, from kernel checks to the evaluation table.

    snakemake --cores all                        # all targets; smoke without a GPU, paper with one
    snakemake --cores all --config profile=paper figures

The config is workflow/config/<profile>.yaml, validated against
workflow/schemas/config.schema.yaml before any job starts; outputs go to results/<name>/.
"""

from snakemake.utils import min_version, validate

min_version("9.0")


include: "workflow/rules/common.smk"


WHY = select_config(config)


validate(config, "workflow/schemas/config.schema.yaml")
announce_config(config, WHY)

RESULTS = f"results/{config['name']}"
TOKENIZER = tokenizer_dir()


container: config["container"]


report: "workflow/report/workflow.rst"


include: "workflow/rules/kernels.smk"
include: "workflow/rules/profile.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        rules.kernels.input,
        rules.profile.input,
        rules.data.input,
        rules.figures.input,
        rules.training_curves.output.png,
        rules.evaluate.input,
