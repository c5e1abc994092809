# Stage 6: MLflow. The database is created once, before any other job touches it; one
# job logs every run, so there is exactly one writer at a time. Logging is idempotent:
# a run already in the database with the same content is not logged twice.


rule mlflow_init:
    output:
        ready="results/mlflow/ready.json",
    log:
        "logs/mlflow/init.log",
    benchmark:
        "results/benchmarks/mlflow/init.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        db=config["mlflow"]["db"],
        artifacts=config["mlflow"]["artifacts"],
        code=code_version("merflow.evaluation.tracking"),
    script:
        "../scripts/mlflow_init.py"


rule mlflow_log:
    input:
        ready="results/mlflow/ready.json",
        metrics=all_metrics,
    output:
        logged="results/mlflow/logged.json",
    log:
        "logs/mlflow/log.log",
    benchmark:
        "results/benchmarks/mlflow/log.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        db=config["mlflow"]["db"],
        config=canonical(config),
        splits=split_of_part(),
        code=code_version("merflow.evaluation.tracking"),
    script:
        "../scripts/mlflow_log.py"
