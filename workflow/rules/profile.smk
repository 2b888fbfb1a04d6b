"""Profiling: time and memory sweeps, data movement, training throughput.

Timed rules take every core, so nothing else runs beside them.
"""


rule profile:
    input:
        f"{RESULTS}/profile/bench.csv",
        f"{RESULTS}/profile/movement/movement.csv",
        f"{RESULTS}/profile/bench_train/bench_train.csv",


rule bench:
    input:
        config=config["bench"]["sweep"],
    output:
        csv=f"{RESULTS}/profile/bench.csv",
        environment=f"{RESULTS}/profile/environment.json",
    log:
        f"{RESULTS}/logs/profile/bench.log",
    benchmark:
        f"{RESULTS}/benchmarks/profile/bench.tsv"
    threads: workflow.cores
    params:
        out=lambda wildcards, output: os.path.dirname(output.csv),
    shell:
        "fastmax bench --config {input.config} --out {params.out} > {log} 2>&1"


rule movement:
    input:
        config=config["bench"]["movement"],
    output:
        csv=f"{RESULTS}/profile/movement/movement.csv",
        png=report(
            f"{RESULTS}/profile/movement/fig5_movement.png",
            caption="../report/fig5_movement.rst",
            category="Profiling",
            labels={"artifact": "Figure 5"},
        ),
        pdf=f"{RESULTS}/profile/movement/fig5_movement.pdf",
        json=f"{RESULTS}/profile/movement/fig5_movement.json",
    log:
        f"{RESULTS}/logs/profile/movement.log",
    benchmark:
        f"{RESULTS}/benchmarks/profile/movement.tsv"
    threads: workflow.cores
    params:
        out=lambda wildcards, output: os.path.dirname(output.csv),
    shell:
        "python workflow/scripts/record.py --sidecar {output.json} -- "
        "fastmax profile-movement --config {input.config} --out {params.out} > {log} 2>&1"


rule bench_train:
    input:
        config=config["bench"]["training"],
    output:
        csv=f"{RESULTS}/profile/bench_train/bench_train.csv",
        png=report(
            f"{RESULTS}/profile/bench_train/bench_train.png",
            caption="../report/bench_train.rst",
            category="Profiling",
            labels={"artifact": "training throughput"},
        ),
        pdf=f"{RESULTS}/profile/bench_train/bench_train.pdf",
        json=f"{RESULTS}/profile/bench_train/bench_train.json",
    log:
        f"{RESULTS}/logs/profile/bench_train.log",
    benchmark:
        f"{RESULTS}/benchmarks/profile/bench_train.tsv"
    threads: workflow.cores
    params:
        out=lambda wildcards, output: os.path.dirname(output.csv),
    shell:
        "python workflow/scripts/record.py --sidecar {output.json} -- "
        "fastmax bench-train --config {input.config} --out {params.out} > {log} 2>&1"
