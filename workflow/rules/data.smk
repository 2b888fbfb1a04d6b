"""Data: the tokenizer, the corpus and the token shards the training reads."""


rule data:
    input:
        TOKENIZER,
        f"{RESULTS}/data/shards",


rule tokenizer_gpt2:
    output:
        directory(f"{RESULTS}/data/tokenizer/gpt2"),
    log:
        f"{RESULTS}/logs/data/tokenizer_gpt2.log",
    shell:
        "fastmax tokenizer gpt2 --out {output} > {log} 2>&1"


rule tokenizer_hub:
    output:
        directory(f"{RESULTS}/data/tokenizer/hub/{{repo}}"),
    log:
        f"{RESULTS}/logs/data/tokenizer_hub/{{repo}}.log",
    wildcard_constraints:
        repo=r"[^/]+/[^/]+",
    params:
        root=lambda wildcards, output: str(Path(output[0]).parents[1]),
    shell:
        "litgpt download {wildcards.repo} --tokenizer_only true "
        "--checkpoint_dir {params.root} > {log} 2>&1"


rule sample_corpus:
    output:
        directory(f"{RESULTS}/data/sample"),
    log:
        f"{RESULTS}/logs/data/sample_corpus.log",
    shell:
        "fastmax prepare sample --out {output} > {log} 2>&1"


rule shards:
    input:
        corpus=corpus_files,
        tokenizer=TOKENIZER,
    output:
        directory(f"{RESULTS}/data/shards"),
    log:
        f"{RESULTS}/logs/data/shards.log",
    benchmark:
        f"{RESULTS}/benchmarks/data/shards.tsv"
    threads: config["data"]["workers"]
    params:
        source=corpus_source,
        max_docs=option("--max-docs", config["data"]["max_docs"]),
    shell:
        "fastmax prepare wiki40b --source {params.source} --tokenizer {input.tokenizer} "
        "--out {output} --workers {threads} {params.max_docs} > {log} 2>&1"
