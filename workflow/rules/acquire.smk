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
        download=canonical(config["download"]),
        code=code_version("merflow.acquisition.download"),
    script:
        "../scripts/download_audio.py"


rule cut_clips:
    input:
        manifest="resources/{dataset}/manifest.parquet",
        downloads=download_shards,
    output:
        clips="results/{dataset}/audio/clips_youtube.parquet",
        ledger="results/{dataset}/ledger/cut_clips.csv",
    log:
        "logs/{dataset}/cut_clips.log",
    benchmark:
        "results/benchmarks/{dataset}/cut_clips.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        clips_dir="results/{dataset}/audio/clips",
        code=code_version("merflow.acquisition.clips"),
    script:
        "../scripts/cut_clips.py"


rule render_clips:
    input:
        manifest="resources/{dataset}/manifest.parquet",
    output:
        clips="results/{dataset}/audio/clips_render.parquet",
        ledger="results/{dataset}/ledger/render_clips.csv",
    log:
        "logs/{dataset}/render_clips.log",
    benchmark:
        "results/benchmarks/{dataset}/render_clips.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    params:
        clips_dir="results/{dataset}/audio/rendered",
        sample_rate=config["audio"]["sample_rate"],
        backend=config["audio"]["render_backend"],
        soundfont=config["audio"]["soundfont"],
        code=code_version("merflow.acquisition.rendering"),
    script:
        "../scripts/render_clips.py"


rule audio_coverage:
    input:
        manifest="resources/{dataset}/manifest.parquet",
        clips=clip_audio_table,
    output:
        csv="results/tables/{dataset}_audio_coverage.csv",
        markdown=report(
            "results/tables/{dataset}_audio_coverage.md",
            caption="../report/coverage.rst",
            category="Data",
        ),
    log:
        "logs/{dataset}/audio_coverage.log",
    benchmark:
        "results/benchmarks/{dataset}/audio_coverage.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        source=config["audio"]["source"],
        code=code_version("merflow.acquisition.rendering"),
    script:
        "../scripts/audio_coverage.py"
