"""Import official MIDI-BERT checkpoints (HF transformers 4.x key names) into merflow's models.

Conventions
-----------
* A source is a path to a ``torch.save`` file or an in-memory mapping. A mapping with a
  ``"state_dict"`` entry (MIDI-BERT's ``.ckpt`` layout: epoch, state_dict, optimizer...) is
  unwrapped. Files are read with ``torch.load(weights_only=True)`` on the CPU.
* Pretraining checkpoints hold ``MidiBert.state_dict()`` (keys ``bert.*``, ``word_emb.*``,
  ``in_linear.*``; listed in ``midibert_reference/*pretrain_statedict_keys*.txt``).
  Emotion fine-tuning checkpoints hold ``SequenceClassification.state_dict()``: the same keys
  under ``midibert.`` plus ``attention.*`` and ``classifier.*``, which map to MoFi's
  ``head.attention.*`` and ``head.classifier.*``.
* Checks, all before any weight is copied, reported together in one ``ValueError`` that names
  the keys: ``*position_ids`` buffers (HF < 4.31 saved them) are dropped silently; a missing
  ``distance_embedding`` (a model trained without ``position_embedding_type=
  "relative_key_query"``) is reported first, then missing keys, unexpected keys and shape
  mismatches. A ``paper``-size checkpoint needs ``hf_unused_weights=True`` (the ``paper``
  preset), since it holds HF's word embeddings and pooler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from merflow.models.film import INJECTION_NONE, MoFi
from merflow.models.heads import N_QUADRANTS
from merflow.models.midibert import MidiBert, MidiBertConfig

IGNORED_KEY_SUFFIXES = ("position_ids",)
RELATIVE_POSITION_KEY = "distance_embedding"
CHECKPOINT_STATE_KEY = "state_dict"
FINETUNE_ENCODER_PREFIX = "midibert."
FINETUNE_HEAD_RENAMES = {"attention.": "head.attention.", "classifier.": "head.classifier."}
MAX_KEYS_LISTED = 30

StateSource = str | Path | Mapping[str, object]


def read_state_dict(source: StateSource) -> dict[str, Tensor]:
    """Tensors of a checkpoint file or mapping, unwrapping a ``"state_dict"`` entry."""
    if isinstance(source, str | Path):
        source = torch.load(Path(source), map_location="cpu", weights_only=True)
    if CHECKPOINT_STATE_KEY in source:
        source = source[CHECKPOINT_STATE_KEY]
    return dict(source)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_KEYS_LISTED])
    more = len(keys) - MAX_KEYS_LISTED
    return shown + (f" (and {more} more)" if more > 0 else "")


def check_state_dict(state: Mapping[str, Tensor], expected: Mapping[str, torch.Size]) -> dict[str, Tensor]:
    """``state`` without ignored buffers, after checking its keys and shapes against ``expected``.

    Raises ValueError naming every missing ``distance_embedding``, missing, unexpected or
    mis-shaped key.
    """
    kept = {key: value for key, value in state.items() if not key.endswith(IGNORED_KEY_SUFFIXES)}
    missing = [key for key in expected if key not in kept]
    no_relative = [key for key in missing if RELATIVE_POSITION_KEY in key]
    unexpected = [key for key in kept if key not in expected]
    mismatched = [
        f"{key}: checkpoint {tuple(kept[key].shape)} vs model {tuple(expected[key])}"
        for key in expected
        if key in kept and kept[key].shape != expected[key]
    ]
    problems = []
    if no_relative:
        problems.append(
            f"the checkpoint has no relative position embeddings ({RELATIVE_POSITION_KEY}): it was not "
            "trained with position_embedding_type='relative_key_query', which MIDI-BERT uses; missing "
            + _listing(no_relative)
        )
    if other_missing := [key for key in missing if key not in no_relative]:
        problems.append("missing keys: " + _listing(other_missing))
    if unexpected:
        problems.append("unexpected keys: " + _listing(unexpected))
    if mismatched:
        problems.append("shape mismatches: " + _listing(mismatched))
    if problems:
        raise ValueError("cannot load the MIDI-BERT checkpoint:\n  " + "\n  ".join(problems))
    return kept


def _load_checked(factory: Callable[[], nn.Module], state: Mapping[str, Tensor]) -> nn.Module:
    """Check ``state`` against the shapes of ``factory()`` built on the meta device, then build and load."""
    with torch.device("meta"):
        expected = {key: value.shape for key, value in factory().state_dict().items()}
    kept = check_state_dict(state, expected)
    model = factory()
    model.load_state_dict(kept, strict=True)
    return model


def load_midibert_checkpoint(source: StateSource, config: MidiBertConfig, prefix: str = "") -> MidiBert:
    """MIDI-BERT encoder with the weights of an official pretraining checkpoint (or of ``prefix``-ed keys).

    ``prefix="midibert."`` takes the encoder out of a fine-tuning checkpoint (its other keys
    are ignored). The model is returned in training mode, like a freshly built one.
    """
    state = read_state_dict(source)
    if prefix:
        state = {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}
    return _load_checked(lambda: MidiBert(config), state)


def _rename_finetune_key(key: str) -> str:
    if key.startswith(FINETUNE_ENCODER_PREFIX):
        return key
    for old, new in FINETUNE_HEAD_RENAMES.items():
        if key.startswith(old):
            return new + key.removeprefix(old)
    return key


def load_emotion_checkpoint(
    source: StateSource, config: MidiBertConfig, n_classes: int = N_QUADRANTS
) -> MoFi:
    """MoFi without FiLM holding an official MIDI-BERT emotion fine-tuning checkpoint (encoder and head)."""
    state = {_rename_finetune_key(key): value for key, value in read_state_dict(source).items()}
    return _load_checked(lambda: MoFi(MidiBert(config), INJECTION_NONE, n_classes), state)
