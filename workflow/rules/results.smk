# Stage 7: what a researcher reads. One table per dataset and split (mean +- std over
# seeds next to the papers' numbers), and one ledger of every item that failed.


rule results_table:
    input:
        metrics=dataset_metrics,
        predictions=dataset_predictions,
    output:
        markdown=report(
            "results/tables/{dataset}_{split}.md",
            caption="../report/table.rst",
            category="Results tables",
        ),
        csv="results/tables/{dataset}_{split}.csv",
        paired="results/tables/{dataset}_{split}_paired.csv",
        contrasts="results/tables/{dataset}_{split}_contrasts.md",
        curves="results/tables/{dataset}_{split}_curves.md",
        plot=report(
            "results/plots/{dataset}_{split}_accuracy.png",
            caption="../report/accuracy_plot.rst",
            category="Plots",
        ),
        curves_plot=report(
            "results/plots/{dataset}_{split}_curves.png",
            caption="../report/curves_plot.rst",
            category="Plots",
        ),
    log:
        "logs/results/table_{dataset}_{split}.log",
    benchmark:
        "results/benchmarks/results/table_{dataset}_{split}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        audio_source=config["audio"]["source"],
        contrasts=config["contrasts"],
        code=code_version(
            "merflow.evaluation.tables",
            "merflow.evaluation.contrasts",
            "merflow.evaluation.learning_curves",
        ),
    script:
        "../scripts/results_table.py"


rule ledger:
    input:
        ledgers=all_ledgers,
    output:
        ledger=report(
            "results/ledger.csv",
            caption="../report/ledger.rst",
            category="Failures",
        ),
    log:
        "logs/results/ledger.log",
    benchmark:
        "results/benchmarks/results/ledger.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        code=code_version("merflow.core.ledger"),
    script:
        "../scripts/merge_ledgers.py"
