# How good is the transcription? Note-level precision/recall/F1 (mir_eval) of every AMT
# backend against the dataset's own MIDI, per clip and overall, with realtime factors, and
# how emotion accuracy follows transcription quality.


rule amt_evaluation:
    input:
        oracle="results/{dataset}/transcription/oracle.parquet",
        backends=amt_backend_tables,
    output:
        per_clip="results/{dataset}/amt/scores.parquet",
        summary="results/tables/{dataset}_amt.csv",
        ledger="results/{dataset}/ledger/amt_evaluation.csv",
        plot=report(
            "results/plots/{dataset}_amt_f1.png",
            caption="../report/amt_f1.rst",
            category="Transcription",
        ),
    log:
        "logs/{dataset}/amt_evaluation.log",
    benchmark:
        "results/benchmarks/{dataset}/amt_evaluation.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        backends=amt_backends,
        code=code_version("merflow.transcription.evaluation"),
    script:
        "../scripts/amt_evaluation.py"


rule amt_vs_emotion:
    input:
        summary="results/tables/{dataset}_amt.csv",
        results="results/tables/{dataset}_{split}.csv",
    output:
        plot=report(
            "results/plots/{dataset}_{split}_amt_vs_accuracy.png",
            caption="../report/amt_vs_accuracy.rst",
            category="Transcription",
        ),
    log:
        "logs/{dataset}/amt_vs_emotion_{split}.log",
    benchmark:
        "results/benchmarks/{dataset}/amt_vs_emotion_{split}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        code=code_version("merflow.transcription.evaluation"),
    script:
        "../scripts/amt_vs_emotion.py"
