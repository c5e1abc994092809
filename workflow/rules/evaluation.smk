# Stage 5: metrics of every run on its test split (4Q accuracy, macro-F1, arousal and
# valence accuracy, per-class precision/recall, confusion matrix).


rule evaluate:
    input:
        predictions="results/{dataset}/models/{model}/{part}/seed{seed}/predictions.parquet",
    output:
        metrics="results/{dataset}/models/{model}/{part}/seed{seed}/metrics.json",
        confusion=report(
            "results/{dataset}/models/{model}/{part}/seed{seed}/confusion.png",
            caption="../report/confusion.rst",
            category="Confusion matrices",
            subcategory="{dataset}",
        ),
    log:
        "logs/{dataset}/evaluate/{model}_{part}_seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/evaluate/{model}_{part}_seed{seed}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        code=code_version("merflow.evaluation.metrics"),
    script:
        "../scripts/evaluate.py"
