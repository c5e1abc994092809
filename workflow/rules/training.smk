# Stage 4: one training job per dataset x model x partition x seed. The classical
# baselines (logistic regression, SVM) pick C on the validation split, then refit on train.


rule train:
    input:
        manifest="resources/{dataset}/manifest.parquet",
        features=model_features,
    output:
        model="results/{dataset}/models/{model}/{part}/seed{seed}/model.joblib",
        predictions="results/{dataset}/models/{model}/{part}/seed{seed}/predictions.parquet",
        history="results/{dataset}/models/{model}/{part}/seed{seed}/training.json",
    log:
        "logs/{dataset}/train/{model}_{part}_seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/train/{model}_{part}_seed{seed}.tsv"
    wildcard_constraints:
        model=models_regex(CLASSICAL_ESTIMATORS),
    conda:
        "../../envs/pipeline.yaml"
    params:
        settings=model_settings,
        code=code_version("merflow.training.classical"),
    script:
        "../scripts/train.py"
