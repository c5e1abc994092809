# Stage 2: automatic piano transcription of clip audio (scatter over shards, then gather),
# and the "oracle" source: the dataset's own MIDI, indexed in the same table format.


# transkun's own environment (about 7 GB), built only when a config transcribes with it.
rule transkun_env:
    output:
        TRANSKUN_STAMP,
    log:
        "logs/transkun_env.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        repository=lambda wildcards, output: Path(output[0]).parents[1],
    shell:
        "make -C {params.repository} transkun-env > {log} 2>&1"


rule transcribe:
    input:
        clips=clip_audio_table,
        environment=transkun_environment,
    output:
        table="results/{dataset}/transcription/{backend}/shard_{shard}.parquet",
        ledger="results/{dataset}/ledger/transcribe_{backend}_{shard}.csv",
    log:
        "logs/{dataset}/transcribe_{backend}_{shard}.log",
    benchmark:
        "results/benchmarks/{dataset}/transcribe_{backend}_{shard}.tsv"
    conda:
        "../../envs/transcription.yaml"
    threads: transcription_threads
    params:
        midi_dir="results/{dataset}/transcription/{backend}/midi",
        n_shards=config["transcription"]["shards"],
        beat_grid=config["transcription"]["beat_grid"],
        options=transcription_options,
        code=code_version("merflow.transcription"),
    script:
        "../scripts/transcribe.py"


rule gather_transcription:
    input:
        shards=transcription_shards,
    output:
        table="results/{dataset}/transcription/{backend}.parquet",
    log:
        "logs/{dataset}/gather_transcription_{backend}.log",
    benchmark:
        "results/benchmarks/{dataset}/gather_transcription_{backend}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        code=code_version("merflow.core.io"),
    script:
        "../scripts/gather_tables.py"


rule oracle_index:
    input:
        manifest="resources/{dataset}/manifest.parquet",
    output:
        table="results/{dataset}/transcription/oracle.parquet",
    log:
        "logs/{dataset}/oracle_index.log",
    benchmark:
        "results/benchmarks/{dataset}/oracle_index.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        code=code_version("merflow.datasets.sources"),
    script:
        "../scripts/oracle_index.py"


ruleorder: oracle_index > gather_transcription
