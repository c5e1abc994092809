# Corpus-scale labelling with a trained run (config `annotate`): each corpus folder in
# `shards` jobs, scattered by a hash of each file's path, then gathered into one table and
# one ledger. A shard works in results/annotations/<corpus>/partial/ (not an output, so it
# survives a killed job) and resumes from there; a changed folder reruns only its shards.


rule annotate_shard:
    input:
        metrics=annotation_run_file("metrics.json"),
    output:
        table="results/annotations/{corpus}/shard_{shard}.parquet",
        ledger="results/annotations/{corpus}/shard_{shard}.ledger.csv",
    log:
        "logs/annotations/{corpus}/shard_{shard}.log",
    benchmark:
        "results/benchmarks/annotations/{corpus}/shard_{shard}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: config["annotate"]["workers"]
    params:
        folder=lambda wildcards: config["annotate"]["corpora"][wildcards.corpus],
        folder_digest=lambda wildcards: folder_digest_of(
            config["annotate"]["corpora"][wildcards.corpus],
            f"corpus_{wildcards.corpus}",
        ),
        partial="results/annotations/{corpus}/partial/shard_{shard}.parquet",
        shards=config["annotate"]["shards"],
        batch_size=config["annotate"]["batch_size"],
        code=code_version("merflow.inference.annotation"),
    script:
        "../scripts/annotate_shard.py"


rule annotate_gather:
    input:
        tables=lambda wildcards: expand(
            "results/annotations/{corpus}/shard_{shard}.parquet",
            corpus=wildcards.corpus,
            shard=range(config["annotate"]["shards"]),
        ),
    output:
        table="results/annotations/{corpus}.parquet",
        ledger="results/annotations/{corpus}.ledger.csv",
    log:
        "logs/annotations/{corpus}/gather.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        code=code_version("merflow.inference.annotation"),
    script:
        "../scripts/annotate_gather.py"
