# Stage 3: parquet feature caches. Symbolic: one job per dataset and source parses every
# MIDI once and writes key/mode (Krumhansl-Kessler), handcrafted statistics and MIDI-like
# tokens. Acoustic: frame features from one STFT per clip, plus their statistics.


rule symbolic_features:
    input:
        midi="results/{dataset}/transcription/{source}.parquet",
    output:
        key_table="results/{dataset}/features/symbolic/{source}/keys.parquet",
        statistics="results/{dataset}/features/symbolic/{source}/statistics.parquet",
        tokens_midi_like="results/{dataset}/features/symbolic/{source}/tokens_midi_like.parquet",
        tokens_midi_like_pedal="results/{dataset}/features/symbolic/{source}/tokens_midi_like_pedal.parquet",
        tokens_refined_midi_like="results/{dataset}/features/symbolic/{source}/tokens_refined_midi_like.parquet",
        tokens_remi="results/{dataset}/features/symbolic/{source}/tokens_remi.parquet",
        tokens_cp="results/{dataset}/features/symbolic/{source}/tokens_cp.parquet",
        ledger="results/{dataset}/ledger/symbolic_{source}.csv",
    log:
        "logs/{dataset}/symbolic_features_{source}.log",
    benchmark:
        "results/benchmarks/{dataset}/symbolic_features_{source}.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        cp_rescale=config["midibert"]["cp_rescale"],
        code=code_version(
            "merflow.music.tonality",
            "merflow.music.symbolic_features",
            "merflow.features.caches",
        ),
    script:
        "../scripts/symbolic_features.py"


rule audio_features:
    input:
        clips=clip_audio_table,
    output:
        frames="results/{dataset}/features/audio/frames.parquet",
        statistics="results/{dataset}/features/audio/statistics.parquet",
        ledger="results/{dataset}/ledger/audio_features.csv",
    log:
        "logs/{dataset}/audio_features.log",
    benchmark:
        "results/benchmarks/{dataset}/audio_features.tsv"
    conda:
        "../../envs/pipeline.yaml"
    params:
        settings=canonical(config["features"]["audio"]),
        sample_rate=config["audio"]["sample_rate"],
        code=code_version("merflow.music.audio_features", "merflow.features.caches"),
    script:
        "../scripts/audio_features.py"
