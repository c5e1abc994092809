# MIDI-BERT and MoFi: the pretraining corpus (never any evaluation test music), CP chunks,
# resumable masked-LM pretraining, and fine-tuning of every `mofi` model (FiLM injection
# point and augmentation from its config entry), one job per dataset x model x part x seed.


rule pretrain_manifest:
    input:
        manifests=eval_manifests,
    output:
        manifest="results/pretrain/manifest.parquet",
        dropped="results/pretrain/dropped.parquet",
        ledger="results/pretrain/ledger.csv",
    log:
        "logs/pretrain/manifest.log",
    benchmark:
        "results/benchmarks/pretrain/manifest.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    params:
        mirror=config["data_mirror"],
        mirror_digest=mirror_digest("pretrain"),
        corpora=config["midibert"]["pretrain"]["corpora"],
        user_dir=config["midibert"]["pretrain"]["user_dir"],
        user_digest=folder_digest_of(
            config["midibert"]["pretrain"]["user_dir"], "user_corpus"
        ),
        code=code_version("merflow.datasets.pretraining"),
    script:
        "../scripts/pretrain_manifest.py"


rule pretrain_chunks:
    input:
        manifest="results/pretrain/manifest.parquet",
    output:
        chunks="results/pretrain/cp_chunks.npy",
        held_out="results/pretrain/cp_chunks_held_out.npy",
        ledger="results/pretrain/ledger_chunks.csv",
    log:
        "logs/pretrain/chunks.log",
    benchmark:
        "results/benchmarks/pretrain/chunks.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        max_len=config["midibert"]["pretrain"]["max_len"],
        cp_rescale=config["midibert"]["cp_rescale"],
        held_out_fraction=config["midibert"]["pretrain"]["held_out_fraction"],
        code=code_version("merflow.tokenizers.cp", "merflow.datasets.pretraining"),
    script:
        "../scripts/pretrain_chunks.py"


rule pretrain_midibert:
    input:
        chunks="results/pretrain/cp_chunks.npy",
        held_out="results/pretrain/cp_chunks_held_out.npy",
    output:
        encoder="results/pretrain/{preset}/midibert.pt",
        history="results/pretrain/{preset}/history.json",
    log:
        "logs/pretrain/midibert_{preset}.log",
    benchmark:
        "results/benchmarks/pretrain/midibert_{preset}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        kind="midibert",
        settings=canonical(config["midibert"]["pretrain"]),
        checkpoint="results/pretrain/{preset}/checkpoint.pt",
        code=code_version("merflow.training.pretraining", "merflow.models.midibert"),
    script:
        "../scripts/pretrain.py"


rule train_mofi:
    input:
        unpack(mofi_inputs),
    output:
        model="results/{dataset}/models/{model}/{part}/seed{seed}/model.pt",
        predictions="results/{dataset}/models/{model}/{part}/seed{seed}/predictions.parquet",
        chunks="results/{dataset}/models/{model}/{part}/seed{seed}/predictions_chunks.parquet",
        history="results/{dataset}/models/{model}/{part}/seed{seed}/training.json",
    log:
        "logs/{dataset}/train/{model}_{part}_seed{seed}.log",
    benchmark:
        "results/benchmarks/{dataset}/train/{model}_{part}_seed{seed}.tsv"
    wildcard_constraints:
        model=models_regex(["mofi"]),
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        settings=model_settings,
        midibert=finetune_settings,
        code=code_version("merflow.training.finetuning", "merflow.models.checkpoint"),
    script:
        "../scripts/train_mofi.py"


rule probe_midibert:
    input:
        unpack(probe_inputs),
    output:
        table="results/tables/{dataset}_{split}_probing.csv",
        plot=report(
            "results/plots/{dataset}_{split}_probing.png",
            caption="../report/probing.rst",
            category="MoFi",
        ),
    log:
        "logs/{dataset}/probe_midibert_{split}.log",
    benchmark:
        "results/benchmarks/{dataset}/probe_midibert_{split}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        midibert=finetune_settings,
        injection=mofi_injection,
        part=probe_part,
        seed=config["seeds"][0],
        code=code_version("merflow.training.probing"),
    script:
        "../scripts/probe_midibert.py"


rule pretraining_sizes:
    input:
        histories=expand(
            "results/pretrain/{preset}/history.json",
            preset=config["midibert"]["size_sweep"],
        ),
    output:
        md="results/tables/pretraining_sizes.md",
        csv="results/tables/pretraining_sizes.csv",
        plot="results/plots/pretraining_sizes.png",
    log:
        "logs/pretrain/sizes.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        code=code_version("merflow.evaluation.pretraining_sizes"),
    script:
        "../scripts/pretraining_sizes.py"
