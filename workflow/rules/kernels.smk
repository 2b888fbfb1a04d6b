"""Kernels: is the compiled CUDA op there, and is every backend exact to float64."""


rule kernels:
    input:
        f"{RESULTS}/kernels/extension.json",
        f"{RESULTS}/kernels/correctness.csv",


rule extension:
    output:
        f"{RESULTS}/kernels/extension.json",
    log:
        f"{RESULTS}/logs/kernels/extension.log",
    params:
        require="--require-cuda" if config["kernels"]["require_cuda"] else "",
    shell:
        "python workflow/scripts/record.py --sidecar {output} -- "
        "python workflow/scripts/extension.py --out {output} {params.require} > {log} 2>&1"


rule correctness:
    input:
        f"{RESULTS}/kernels/extension.json",
    output:
        json=f"{RESULTS}/kernels/correctness.json",
        csv=report(
            f"{RESULTS}/kernels/correctness.csv",
            caption="../report/correctness.rst",
            category="Kernels",
            labels={"artifact": "correctness table"},
        ),
    log:
        f"{RESULTS}/logs/kernels/correctness.log",
    benchmark:
        f"{RESULTS}/benchmarks/kernels/correctness.tsv"
    threads: workflow.cores
    params:
        out=lambda wildcards, output: os.path.dirname(output.json),
        quick="--quick" if config["kernels"]["quick"] else "",
    shell:
        "python workflow/scripts/record.py --sidecar {output.json} -- "
        "fastmax check --out {params.out} {params.quick} > {log} 2>&1"
