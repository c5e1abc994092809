# Stage 1a: one clip manifest per dataset (see merflow.datasets.manifest).


rule demo_dataset:
    output:
        manifest="resources/demo/manifest.parquet",
        ledger="results/demo/ledger/manifest.csv",
    log:
        "logs/demo/dataset.log",
    benchmark:
        "results/benchmarks/demo/dataset.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        settings=canonical(config["demo"]),
        sample_rate=config["audio"]["sample_rate"],
        # The "remote" side: song audio served at file:// URLs, fetched by yt-dlp.
        out_dir="resources/demo/source",
        code=code_version("merflow.datasets.demo"),
    script:
        "../scripts/demo_dataset.py"


rule emopia_manifest:
    output:
        manifest="resources/emopia/manifest.parquet",
        ledger="results/emopia/ledger/manifest.csv",
    log:
        "logs/emopia/manifest.log",
    benchmark:
        "results/benchmarks/emopia/manifest.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        settings=canonical(config["emopia"]),
        mirror=config["data_mirror"],
        mirror_digest=mirror_digest("emopia"),
        root="resources/archives/emopia",
        code=code_version("merflow.datasets.emopia", "merflow.datasets.archive"),
    script:
        "../scripts/emopia_manifest.py"


rule vgmidi_manifest:
    output:
        manifest="resources/vgmidi/manifest.parquet",
        ledger="results/vgmidi/ledger/manifest.csv",
    log:
        "logs/vgmidi/manifest.log",
    benchmark:
        "results/benchmarks/vgmidi/manifest.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        settings=canonical(config["vgmidi"]),
        mirror=config["data_mirror"],
        mirror_digest=mirror_digest("vgmidi"),
        root="resources/archives/vgmidi",
        code=code_version("merflow.datasets.vgmidi", "merflow.datasets.archive"),
    script:
        "../scripts/vgmidi_manifest.py"
