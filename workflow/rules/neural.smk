# Neural models (LSTM-Attn, short-chunk ResNet, Zhao & Yoshii, Zhu et al.): one training
# job per dataset x model x part x seed, on the token table of the model's tokenizer and/or
# the audio frame cache. The short-chunk ResNet also writes chunk-level predictions.


rule train_neural:
    input:
        unpack(neural_inputs),
    output:
        model="results/{dataset}/models/{model}/{part}/seed{seed}/model.pt",
        predictions="results/{dataset}/models/{model}/{part}/seed{seed}/predictions.parquet",
        history="results/{dataset}/models/{model}/{part}/seed{seed}/training.json",
    log:
        "logs/{dataset}/train/{model}_{part}_seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/train/{model}_{part}_seed{seed}.tsv"
    wildcard_constraints:
        model=models_regex(CLIP_NEURAL_ESTIMATORS),
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        settings=model_settings,
        neural=config["neural"],
        code=code_version("merflow.neural_training"),
    script:
        "../scripts/train_neural.py"


use rule train_neural as train_neural_chunks with:
    output:
        model="results/{dataset}/models/{model}/{part}/seed{seed}/model.pt",
        predictions="results/{dataset}/models/{model}/{part}/seed{seed}/predictions.parquet",
        chunks="results/{dataset}/models/{model}/{part}/seed{seed}/predictions_chunks.parquet",
        history="results/{dataset}/models/{model}/{part}/seed{seed}/training.json",
    wildcard_constraints:
        model=models_regex(CHUNK_NEURAL_ESTIMATORS),
