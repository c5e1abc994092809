# Shared by every stage: config validation, the clip/model/run tables the rules expand
# over, code versions and input functions. No rule lives here.

from pathlib import Path

from merflow.core.config import (
    NEURAL_TRAINING_KEYS,
    canonical,
    finetune_job_settings,
    model_job_settings,
    neural_input_tables,
    only,
    reads_symbolic,
    uses_audio,
    validate_config_cached,
)
from merflow.datasets.mirror_digest import folder_digest
from merflow.core.provenance import code_version

config.update(validate_config_cached(config, ".snakemake/merflow/configs"))

# Datasets whose songs have audio to download; VGMIDI is symbolic only.
AUDIO_DATASETS = {"demo", "emopia"}


wildcard_constraints:
    dataset="|".join(["demo", "emopia", "vgmidi"]),
    shard=r"\d+",
    seed=r"\d+",
    part=r"main|official|midibert|fold\d+",
    source=r"[a-z_]+",
    model=r"[A-Za-z0-9_]+",
    backend=r"[a-z_]+",
    split=r"official|midibert|song_disjoint|\d+fold",
    corpus=r"[A-Za-z0-9_-]+",


def has_audio(dataset):
    """Datasets with song URLs have audio; with `audio.source: render` every dataset has."""
    return dataset in AUDIO_DATASETS or config["audio"]["source"] == "render"


def clip_audio_table(wildcards):
    return (
        f"results/{wildcards.dataset}/audio/clips_{config['audio']['source']}.parquet"
    )


def download_shards(wildcards):
    return expand(
        "results/{dataset}/audio/download_{shard}.parquet",
        dataset=wildcards.dataset,
        shard=range(config["download"]["shards"]),
    )


def transcription_shards(wildcards):
    return expand(
        "results/{dataset}/transcription/{backend}/shard_{shard}.parquet",
        dataset=wildcards.dataset,
        backend=wildcards.backend,
        shard=range(config["transcription"]["shards"]),
    )


def parts_of(dataset):
    """Training partitions: k folds for VGMIDI, each configured split for EMOPIA, else `main`."""
    if dataset == "vgmidi":
        return [f"fold{k}" for k in range(config["vgmidi"]["n_folds"])]
    if dataset == "emopia":
        return list(config["emopia"]["splits"])
    return ["main"]


def splits_of(dataset):
    """The splits a dataset's results are reported on, one table each (file names, rows)."""
    if dataset == "emopia":
        return list(config["emopia"]["splits"])
    if dataset == "vgmidi":
        return [f"{config['vgmidi']['n_folds']}fold"]
    return ["song_disjoint"]


def parts_in(dataset, split):
    """The partitions whose runs make up the table of ``dataset``/``split``."""
    return [split] if dataset == "emopia" else parts_of(dataset)


def split_of_part():
    """``{"<dataset>/<part>": split}`` for every trained partition (MLflow experiments)."""
    return {
        f"{dataset}/{part}": split
        for dataset in config["datasets"]
        for split in splits_of(dataset)
        for part in parts_in(dataset, split)
    }


def models_for(dataset):
    """Models that can run on ``dataset``: audio-based ones need a dataset with audio."""
    return [
        name
        for name, model in config["models"].items()
        if has_audio(dataset) or not uses_audio(model)
    ]


CLASSICAL_ESTIMATORS = ("logistic_regression", "svm")
NEVER = "(?!x)x"  # a regex that matches nothing


def models_regex(estimators):
    """Regex of the configured model names whose estimator is in ``estimators``."""
    names = [n for n, m in config["models"].items() if m["estimator"] in estimators]
    return "|".join(names) if names else NEVER


def folder_digest_of(folder, cache_name):
    """A param: the content digest of ``folder`` (``merflow.datasets.mirror_digest``), "" if unset.

    The jobs that read a whole folder (a dataset of the mirror, a user corpus) carry its
    digest instead of declaring its thousands of files as inputs: adding, removing or editing
    a file reruns them; a copy with new modification times and the same content does not.
    """
    if not folder:
        return ""
    return folder_digest(
        folder, Path(".snakemake/merflow/digests") / f"{cache_name}.json"
    )


def mirror_digest(name):
    """A param: the digest of dataset folder ``name`` of the mirror ("" without a mirror; a
    missing folder digests as "absent" and its job reports it, ``merflow.datasets.archive``).
    """
    mirror = config["data_mirror"]
    return folder_digest_of(Path(mirror) / name if mirror else "", f"mirror_{name}")


def eval_manifests(wildcards=None):
    """Manifests of the evaluation datasets whose test music pretraining must not see."""
    return expand(
        "resources/{dataset}/manifest.parquet",
        dataset=[d for d in config["datasets"] if d in ("emopia", "vgmidi")],
    )


def mofi_input_files(dataset, model_name):
    model = config["models"][model_name]
    symbolic = f"results/{dataset}/features/symbolic/{model['source']}"
    inputs = {
        "manifest": f"resources/{dataset}/manifest.parquet",
        "tokens": f"{symbolic}/tokens_cp.parquet",
        "key_table": f"{symbolic}/keys.parquet",
    }
    if not config["midibert"]["checkpoint"]:
        pretrained = f"results/pretrain/{config['midibert']['preset']}"
        inputs["encoder"] = f"{pretrained}/midibert.pt"
        inputs["encoder_history"] = f"{pretrained}/history.json"
    return inputs


def probed_datasets():
    """Datasets with a `mofi` model on the dataset MIDI: their pretrained encoder is probed."""
    oracle_mofi = [
        n
        for n, m in config["models"].items()
        if m["estimator"] == "mofi" and m["source"] == "oracle"
    ]
    return [d for d in config["datasets"] if oracle_mofi and d != "demo"]


def mofi_inputs(wildcards):
    return mofi_input_files(wildcards.dataset, wildcards.model)


def probe_inputs(wildcards):
    return mofi_input_files(wildcards.dataset, mofi_model_name())


def mofi_model_name():
    """The `mofi` model whose injection point the probing plot marks (MoFi's own if present)."""
    names = [n for n, m in config["models"].items() if m["estimator"] == "mofi"]
    with_film = [n for n in names if config["models"][n]["injection"] != "none"]
    return (with_film or names)[0]


def mofi_injection(wildcards):
    return config["models"][mofi_model_name()]["injection"]


def neural_input_files(dataset, model_name):
    """Manifest, token table (token models) and audio frame cache (audio models) of a neural model."""
    model = config["models"][model_name]
    inputs = {"manifest": f"resources/{dataset}/manifest.parquet"}
    tables = neural_input_tables(model)
    if "tokens" in tables:
        inputs["tokens"] = (
            f"results/{dataset}/features/symbolic/{model['source']}/tokens_{model['tokenizer']}.parquet"
        )
    if "frames" in tables:
        inputs["frames"] = f"results/{dataset}/features/audio/frames.parquet"
    if zhu_pretrained(model):
        inputs["pretrained"] = (
            f"results/pretrain/zhu_{config['neural']['preset']}/symbolic_encoder.pt"
        )
    return inputs


def zhu_pretrained(model):
    """Whether a Zhu et al. model starts from the masked-LM pretrained symbolic encoder."""
    return (
        model["estimator"] == "zhu"
        and model.get("ablation", "full") != "acoustic_only"
        and config["neural"]["zhu_pretrain"]["enabled"]
    )


def neural_inputs(wildcards):
    return neural_input_files(wildcards.dataset, wildcards.model)


CHUNK_NEURAL_ESTIMATORS = ("short_chunk_resnet",)
CLIP_NEURAL_ESTIMATORS = ("lstm_attn", "zhao_yoshii", "zhu")


def model_features(wildcards):
    model = config["models"][wildcards.model]
    if model["features"] == "audio":
        return f"results/{wildcards.dataset}/features/audio/statistics.parquet"
    return f"results/{wildcards.dataset}/features/symbolic/{model['source']}/statistics.parquet"


def run_dirs(dataset, split=None):
    """Run folders of ``dataset``: of one reported split, or of all of them."""
    return expand(
        "results/{dataset}/models/{model}/{part}/seed{seed}",
        dataset=dataset,
        model=models_for(dataset),
        part=parts_of(dataset) if split is None else parts_in(dataset, split),
        seed=config["seeds"],
    )


def metrics_files(dataset, split=None):
    return [f"{run}/metrics.json" for run in run_dirs(dataset, split)]


def all_metrics(wildcards=None):
    return [path for dataset in config["datasets"] for path in metrics_files(dataset)]


def symbolic_sources_for(dataset):
    """Symbolic sources (oracle, AMT backends) that the dataset's models read."""
    return sorted(
        {
            config["models"][name]["source"]
            for name in models_for(dataset)
            if reads_symbolic(config["models"][name])
        }
    )


def audio_stage_needed(dataset):
    return any(uses_audio(config["models"][name]) for name in models_for(dataset))


def dataset_ledgers(dataset):
    ledgers = [f"results/{dataset}/ledger/manifest.csv"]
    if audio_stage_needed(dataset) and config["audio"]["source"] == "render":
        ledgers.append(f"results/{dataset}/ledger/render_clips.csv")
    if audio_stage_needed(dataset) and config["audio"]["source"] == "youtube":
        ledgers += expand(
            "results/{dataset}/ledger/download_{shard}.csv",
            dataset=dataset,
            shard=range(config["download"]["shards"]),
        )
        ledgers.append(f"results/{dataset}/ledger/cut_clips.csv")
    if audio_stage_needed(dataset):
        if amt_backends_for(dataset):
            ledgers.append(f"results/{dataset}/ledger/amt_evaluation.csv")
        ledgers.append(f"results/{dataset}/ledger/audio_features.csv")
        ledgers += expand(
            "results/{dataset}/ledger/transcribe_{backend}_{shard}.csv",
            dataset=dataset,
            backend=amt_backends_for(dataset),
            shard=range(config["transcription"]["shards"]),
        )
    ledgers += expand(
        "results/{dataset}/ledger/symbolic_{source}.csv",
        dataset=dataset,
        source=symbolic_sources_for(dataset),
    )
    return ledgers


def uses_pretraining():
    """True when some mofi model fine-tunes our own pretrained MIDI-BERT."""
    has_mofi = any(m["estimator"] == "mofi" for m in config["models"].values())
    return has_mofi and not config["midibert"]["checkpoint"]


def all_ledgers(wildcards=None):
    ledgers = [
        path for dataset in config["datasets"] for path in dataset_ledgers(dataset)
    ]
    if uses_pretraining():
        ledgers += ["results/pretrain/ledger.csv", "results/pretrain/ledger_chunks.csv"]
    return ledgers


def result_tables():
    return [
        f"results/tables/{dataset}_{split}.{ext}"
        for dataset in config["datasets"]
        for split in splits_of(dataset)
        for ext in ("md", "csv")
    ]


def amt_backends_for(dataset):
    """AMT backends of a dataset with audio: those configured and those its models read.

    The default target evaluates them only when a model of the dataset uses audio; the AMT
    table of a dataset with audio can always be asked for (results/tables/<dataset>_amt.csv).
    """
    if not (has_audio(dataset) or audio_stage_needed(dataset)):
        return []
    read = {s for s in symbolic_sources_for(dataset) if s != "oracle"}
    return sorted(read | set(config["transcription"]["backends"]))


def amt_backends(wildcards):
    return amt_backends_for(wildcards.dataset)


def amt_backend_tables(wildcards):
    return [
        f"results/{wildcards.dataset}/transcription/{backend}.parquet"
        for backend in amt_backends_for(wildcards.dataset)
    ]


def stage_report_outputs():
    """Audio coverage and transcription-quality outputs of the datasets that have them."""
    outputs = []
    for dataset in config["datasets"]:
        if audio_stage_needed(dataset):
            outputs.append(f"results/tables/{dataset}_audio_coverage.csv")
        if audio_stage_needed(dataset) and amt_backends_for(dataset):
            outputs.append(f"results/tables/{dataset}_amt.csv")
            outputs += [
                f"results/plots/{dataset}_{split}_amt_vs_accuracy.png"
                for split in splits_of(dataset)
            ]
    return outputs


def annotation_run_file(name):
    """File ``name`` of the run folder that labels the corpora (config ``annotate.run``)."""
    run = config["annotate"]["run"]
    return f"results/{run['dataset']}/models/{run['model']}/{run['part']}/seed{run['seed']}/{name}"


def annotation_outputs():
    """The gathered annotation table of every configured corpus."""
    return [
        f"results/annotations/{corpus}.parquet"
        for corpus in config["annotate"]["corpora"]
    ]


def get_final_output():
    probing = [
        f"results/plots/{dataset}_{split}_probing.png"
        for dataset in probed_datasets()
        for split in splits_of(dataset)
    ]
    return [
        *result_tables(),
        *stage_report_outputs(),
        *probing,
        "results/ledger.csv",
        "results/mlflow/logged.json",
        *annotation_outputs(),
        *(
            ["results/tables/pretraining_sizes.md"]
            if config["midibert"]["size_sweep"]
            else []
        ),
    ]


def transcription_options(wildcards):
    """The backend's options; transkun's interpreter path made absolute (from the repository root)."""
    options = dict(config["transcription"][wildcards.backend])
    if "python" in options:
        options["python"] = str(Path(workflow.basedir).parent / options["python"])
    return canonical(options)


#: The transkun environment `make transkun-env` builds (rule transkun_env) in the repository,
#: and its stamp (absolute: the working directory may be elsewhere).
REPOSITORY = str(Path(workflow.basedir).parent)
DEFAULT_TRANSKUN_PYTHON = ".venv-transkun/bin/python"
TRANSKUN_STAMP = str(Path(REPOSITORY) / ".venv-transkun" / ".installed")


def transkun_environment(wildcards):
    """A transkun job's environment: the stamp of the default one (built on demand), else the
    configured interpreter (which must exist); nothing for the other backends."""
    if wildcards.backend != "transkun":
        return []
    python = config["transcription"]["transkun"]["python"]
    if python == DEFAULT_TRANSKUN_PYTHON:
        return TRANSKUN_STAMP
    return str(Path(REPOSITORY) / python)


def transcription_threads(wildcards):
    """Cores of a transcription job: transkun's torch threads (`threads`, 0 = 2), else one."""
    if wildcards.backend != "transkun":
        return 1
    return config["transcription"]["transkun"]["threads"] or 2


def finetune_settings(wildcards):
    """What a fine-tuning or probing job reads of section midibert, its dataset's batch size resolved."""
    return finetune_job_settings(config["midibert"], wildcards.dataset)


def model_settings(wildcards):
    """What the model's jobs read of its config entry, canonical (merflow.core.config.model_job_settings)."""
    return model_job_settings(config["models"][wildcards.model])


def dataset_metrics(wildcards):
    return metrics_files(wildcards.dataset, wildcards.split)


def dataset_predictions(wildcards):
    return [
        f"{run}/predictions.parquet"
        for run in run_dirs(wildcards.dataset, wildcards.split)
    ]


def probe_part(wildcards):
    """The partition the probing heads are trained on: the split's first."""
    return parts_in(wildcards.dataset, wildcards.split)[0]
