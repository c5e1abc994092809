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
        neural=only(config["neural"], NEURAL_TRAINING_KEYS),
        code=code_version("merflow.training.neural"),
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


# Zhu et al.'s symbolic branch is pretrained before emotion training (the paper: on MAESTRO;
# here: masked-LM on the pretraining corpora, the same pieces MIDI-BERT sees).
rule pretrain_token_chunks:
    input:
        manifest="results/pretrain/manifest.parquet",
    output:
        chunks="results/pretrain/refined_midi_like_chunks.npy",
        ledger="results/pretrain/ledger_token_chunks.csv",
    log:
        "logs/pretrain/token_chunks.log",
    benchmark:
        "results/benchmarks/pretrain/token_chunks.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        max_len=config["neural"]["zhu_pretrain"]["max_len"],
        code=code_version(
            "merflow.tokenizers.refined_midi_like", "merflow.tokenizers.chunks"
        ),
    script:
        "../scripts/pretrain_token_chunks.py"


rule pretrain_zhu:
    input:
        chunks="results/pretrain/refined_midi_like_chunks.npy",
    output:
        encoder="results/pretrain/zhu_{preset}/symbolic_encoder.pt",
        history="results/pretrain/zhu_{preset}/history.json",
    log:
        "logs/pretrain/zhu_{preset}.log",
    benchmark:
        "results/benchmarks/pretrain/zhu_{preset}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        kind="zhu",
        settings=canonical(config["neural"]["zhu_pretrain"]),
        checkpoint="results/pretrain/zhu_{preset}/checkpoint.pt",
        code=code_version("merflow.training.pretraining", "merflow.models.zhu"),
    script:
        "../scripts/pretrain.py"
