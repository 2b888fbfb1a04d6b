"""Pretraining: the softmax model (regular) and the Fastmax model (linear) with LitGPT.

Only final/ and metrics.csv are outputs: the intermediate checkpoints stay in the run folder when
a job fails, so a rerun (--rerun-incomplete) resumes from the last one.
"""


rule train_regular:
    input:
        f"{RESULTS}/train/regular/final",


rule train_linear:
    input:
        f"{RESULTS}/train/linear/final",


rule train:
    input:
        config=lambda wildcards: config["train"][wildcards.variant],
        shards=f"{RESULTS}/data/shards",
        tokenizer=TOKENIZER,
    output:
        checkpoint=directory(f"{RESULTS}/train/{{variant}}/final"),
        metrics=f"{RESULTS}/train/{{variant}}/metrics.csv",
    log:
        f"{RESULTS}/logs/train/{{variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{variant}}.tsv"
    wildcard_constraints:
        variant="|".join(VARIANTS),
    threads: workflow.cores
    params:
        out=lambda wildcards, output: os.path.dirname(output.metrics),
        launcher=train_launcher,
        placement=train_placement,
    shell:
        "{params.launcher} fastmax train --config {input.config} --out {params.out} "
        "--set data.path={input.shards} --set tokenizer_dir={input.tokenizer} "
        "{params.placement} > {log} 2>&1"
