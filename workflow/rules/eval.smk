"""Evaluation: lm-eval on each trained checkpoint with its own attention, then one table."""


rule evaluate:
    input:
        f"{RESULTS}/eval/eval_table.csv",


rule evaluate_run:
    input:
        checkpoint=f"{RESULTS}/train/{{variant}}/final",
        tasks=eval_task_files,
    output:
        json=f"{RESULTS}/eval/{{variant}}.json",
        csv=f"{RESULTS}/eval/{{variant}}.csv",
    log:
        f"{RESULTS}/logs/eval/{{variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval/{{variant}}.tsv"
    wildcard_constraints:
        variant="|".join(VARIANTS),
    threads: workflow.cores
    params:
        tasks=",".join(config["eval"]["tasks"]),
        batch_size=config["eval"]["batch_size"],
        limit=option("--limit", config["eval"]["limit"]),
        include_path=option("--include-path", config["eval"]["include_path"]),
        # answers computed before a killed job are reused when the rule runs again
        cache=f"{RESULTS}/eval/request-cache",
    shell:
        "fastmax evaluate {input.checkpoint} --tasks {params.tasks} --out {output.json} "
        "--batch-size {params.batch_size} {params.limit} {params.include_path} "
        "--cache {params.cache} > {log} 2>&1"


rule eval_table:
    input:
        softmax=f"{RESULTS}/eval/regular.json",
        fastmax=f"{RESULTS}/eval/linear.json",
        softmax_time=f"{RESULTS}/benchmarks/eval/regular.tsv",
        fastmax_time=f"{RESULTS}/benchmarks/eval/linear.tsv",
    output:
        md=f"{RESULTS}/eval/eval_table.md",
        csv=report(
            f"{RESULTS}/eval/eval_table.csv",
            caption="../report/eval_table.rst",
            category="Evaluation",
            labels={"artifact": "evaluation table"},
        ),
        json=f"{RESULTS}/eval/eval_table.json",
    log:
        f"{RESULTS}/logs/eval/eval_table.log",
    params:
        out=lambda wildcards, output: os.path.dirname(output.csv),
    shell:
        "python workflow/scripts/record.py --sidecar {output.json} "
        "--timing eval_softmax={input.softmax_time} --timing eval_fastmax={input.fastmax_time} -- "
        "fastmax report --run softmax={input.softmax} --run fastmax={input.fastmax} "
        "--out {params.out} > {log} 2>&1"
