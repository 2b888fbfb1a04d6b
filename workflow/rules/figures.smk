"""Figures: scaling plots from the sweep, training curves; the report collects them."""


rule figures:
    input:
        f"{RESULTS}/kernels/correctness.csv",
        f"{RESULTS}/figures/fig3_time.png",
        f"{RESULTS}/figures/fig4_memory.png",
        f"{RESULTS}/figures/speedup_vs_sdpa.png",
        f"{RESULTS}/profile/movement/fig5_movement.png",
        f"{RESULTS}/profile/bench_train/bench_train.png",
        available_run_figures,


rule scaling_figures:
    input:
        csv=f"{RESULTS}/profile/bench.csv",
        time=f"{RESULTS}/benchmarks/profile/bench.tsv",
    output:
        fig3=report(
            f"{RESULTS}/figures/fig3_time.png",
            caption="../report/fig3_time.rst",
            category="Profiling",
            labels={"artifact": "Figure 3"},
        ),
        fig3_pdf=f"{RESULTS}/figures/fig3_time.pdf",
        fig3_json=f"{RESULTS}/figures/fig3_time.json",
        fig4=report(
            f"{RESULTS}/figures/fig4_memory.png",
            caption="../report/fig4_memory.rst",
            category="Profiling",
            labels={"artifact": "Figure 4"},
        ),
        fig4_pdf=f"{RESULTS}/figures/fig4_memory.pdf",
        fig4_json=f"{RESULTS}/figures/fig4_memory.json",
        speedup=report(
            f"{RESULTS}/figures/speedup_vs_sdpa.png",
            caption="../report/speedup_vs_sdpa.rst",
            category="Profiling",
            labels={"artifact": "speedup over SDPA"},
        ),
        speedup_pdf=f"{RESULTS}/figures/speedup_vs_sdpa.pdf",
        speedup_json=f"{RESULTS}/figures/speedup_vs_sdpa.json",
    log:
        f"{RESULTS}/logs/figures/scaling_figures.log",
    params:
        out=lambda wildcards, output: os.path.dirname(output.fig3),
    shell:
        "python workflow/scripts/record.py --sidecar {output.fig3_json} "
        "--sidecar {output.fig4_json} --sidecar {output.speedup_json} "
        "--timing bench={input.time} -- "
        "fastmax plot --csv {input.csv} --out {params.out} > {log} 2>&1"


rule training_curves:
    input:
        softmax=f"{RESULTS}/train/regular/metrics.csv",
        fastmax=f"{RESULTS}/train/linear/metrics.csv",
        softmax_time=f"{RESULTS}/benchmarks/train/regular.tsv",
        fastmax_time=f"{RESULTS}/benchmarks/train/linear.tsv",
    output:
        png=report(
            f"{RESULTS}/figures/training_loss.png",
            caption="../report/training_loss.rst",
            category="Training",
            labels={"artifact": "training loss"},
        ),
        pdf=f"{RESULTS}/figures/training_loss.pdf",
        json=f"{RESULTS}/figures/training_loss.json",
    log:
        f"{RESULTS}/logs/figures/training_curves.log",
    params:
        stem=lambda wildcards, output: os.path.splitext(output.json)[0],
    shell:
        "python workflow/scripts/record.py --sidecar {output.json} "
        "--timing train_softmax={input.softmax_time} --timing train_fastmax={input.fastmax_time} -- "
        "fastmax plot-train --runs softmax={input.softmax} fastmax={input.fastmax} "
        "--out {params.stem} > {log} 2>&1"
