# Stage 1b: song audio through yt-dlp (scatter over shards), then clips cut by timestamps.


rule download_audio:
    input:
        manifest="resources/{dataset}/manifest.parquet",
    output:
        status="results/{dataset}/audio/download_{shard}.parquet",
        ledger="results/{dataset}/ledger/download_{shard}.csv",
    log:
        "logs/{dataset}/download_{shard}.log",
    benchmark:
        "results/benchmarks/{dataset}/download_{shard}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    resources:
        # A global throttle: the profiles cap concurrent downloads so a cluster run
        # cannot flood YouTube.
        downloads=1,
    params:
        songs_dir="resources/{dataset}/songs",
        n_shards=config["download"]["shards"],
        sample_rate=config["audio"]["sample_rate"],
        download=config["download"],
        code=code_version("merflow.acquisition"),
    script:
        "../scripts/download_audio.py"


rule cut_clips:
    input:
        manifest="resources/{dataset}/manifest.parquet",
        downloads=download_shards,
    output:
        clips="results/{dataset}/audio/clips.parquet",
        ledger="results/{dataset}/ledger/cut_clips.csv",
    log:
        "logs/{dataset}/cut_clips.log",
    benchmark:
        "results/benchmarks/{dataset}/cut_clips.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        clips_dir="results/{dataset}/audio/clips",
        code=code_version("merflow.clips"),
    script:
        "../scripts/cut_clips.py"
