from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np
import pytest
import symusic

from merflow.core.errors import InputError
from merflow.tokenizers.cp import (
    BAR,
    BAR_CONTINUE,
    BAR_NEW,
    MAX_LEN,
    PAD_WORD,
    PITCH,
    TICKS_PER_BAR,
    VOCAB,
    CPVocab,
    chunk_cp,
    decode_cp,
    duration_bin,
    encode_cp,
)

QUARTER = 480
EMOPIA_QUADRANT = {"Q1": 0, "Q2": 1, "Q3": 2, "Q4": 3}


def make_score(tracks: Sequence[Sequence[tuple[int, int, int]]], tpq: int = QUARTER) -> symusic.Score:
    """A score with one piano track per list of (onset tick, duration ticks, pitch)."""
    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(0, 120.0))
    for k, notes in enumerate(tracks):
        track = symusic.Track(f"piano{k}", 0, False)
        for onset, duration, pitch in notes:
            track.notes.append(symusic.Note(onset, duration, pitch, 80))
        score.tracks.append(track)
    return score


# ------------------------------------------------------------------ vocabulary


@pytest.mark.needs_shared_data
def test_vocabulary_equals_midibert_reference(shared_data: Path):
    reference = json.loads((shared_data / "midibert_reference" / "CP_vocab.json").read_text())
    assert VOCAB.to_mapping() == reference
    assert CPVocab.from_mapping(reference) == VOCAB
    assert CPVocab.from_mapping(reference["event2word"]) == VOCAB


def test_vocabulary_layout():
    assert VOCAB.sizes == (4, 18, 88, 66)
    assert PAD_WORD.tolist() == [2, 16, 86, 64]
    assert VOCAB.mask_word.tolist() == [3, 17, 87, 65]
    assert VOCAB.events(np.array([0, 4, 38, 7])) == ["Bar New", "Position 5/16", "Pitch 60", "Duration 7"]
    assert VOCAB.events(PAD_WORD) == ["Bar <PAD>", "Position <PAD>", "Pitch <PAD>", "Duration <PAD>"]


# ------------------------------------------------------------------ rules on hand-built scores


def test_hand_built_score_known_tokens():
    score = make_score(
        [
            [
                (0, 480, 60),  # bar 1 beat 1, quarter
                (480, 240, 64),  # bar 1 beat 2 -> Position 5/16 (id 4), eighth
                (1920, 1920, 67),  # bar 2 beat 1, whole note
                (2400, 120, 72),  # bar 2 beat 2, 16th
                (4000, 480, 48),  # bar 3, off the grid: 4000 -> grid 3960 = position 1 (id 1)
            ]
        ]
    )
    expected = [
        [BAR_NEW, 0, 60 - 22, 7],
        [BAR_CONTINUE, 4, 64 - 22, 3],
        [BAR_NEW, 0, 67 - 22, 31],
        [BAR_CONTINUE, 4, 72 - 22, 1],
        [BAR_NEW, 1, 48 - 22, 7],
    ]
    tokens = encode_cp(score)
    assert tokens.dtype == np.int64
    assert tokens.tolist() == expected
    assert VOCAB.events(tokens[1]) == ["Bar Continue", "Position 5/16", "Pitch 64", "Duration 3"]


def test_duration_bins_nearest_with_ties_down():
    durations = [0, 30, 60, 90, 91, 150, 151, 480, 3810, 3811, 100_000]
    assert duration_bin(np.array(durations)).tolist() == [0, 0, 0, 0, 1, 1, 2, 7, 62, 63, 63]


def test_onsets_snap_to_nearest_sixteenth_ties_down():
    score = make_score([[(59, 60, 60), (60, 60, 62), (61, 60, 64), (179, 60, 65), (1000, 60, 67)]])
    assert encode_cp(score)[:, 1].tolist() == [0, 0, 1, 1, 8]  # 0, 0, 120, 120 ticks; 1000 -> 960


def test_latest_onset_lands_one_sixteenth_early_when_on_the_grid():
    # MIDI-BERT's grid stops before the latest onset: 960 -> 840 (Position 8/16, id 7)
    score = make_score([[(0, 480, 60), (960, 480, 62), (960, 480, 65)]])
    assert encode_cp(score)[:, 1].tolist() == [0, 7, 7]
    # a latest onset nearer the next grid point also stays below it: 1070 -> 960, not 1080
    assert encode_cp(make_score([[(0, 480, 60), (1070, 480, 62)]]))[:, 1].tolist() == [0, 8]


def test_order_follows_unquantized_onsets_then_pitch():
    # 118 and 121 both quantize to 120: the earlier raw onset comes first despite its higher pitch
    score = make_score([[(0, 480, 50), (121, 240, 60), (118, 240, 70), (121, 240, 55), (2000, 480, 40)]])
    assert (encode_cp(score)[:, PITCH] + 22).tolist() == [50, 70, 55, 60, 40]


def test_tracks_are_merged_in_track_order_at_equal_onsets(tmp_path: Path):
    high = [(0, 480, 72), (480, 480, 74), (2000, 480, 76)]
    low = [(0, 480, 48), (480, 480, 50)]
    tokens = encode_cp(make_score([high, low]))
    assert (tokens[:, PITCH] + 22).tolist() == [72, 48, 74, 50, 76]
    path = tmp_path / "two_tracks.mid"  # multi-track files go through miditoolkit: same answer
    make_score([high, low]).dump_midi(str(path))
    assert np.array_equal(encode_cp(path), tokens)


def test_instrument_order_is_miditoolkits(tmp_path: Path):
    # one MIDI track, two channels: miditoolkit creates the channel-5 instrument first (its
    # note ends first), so its note comes first at the shared onset; symusic lists channel 0 first
    events = [(0, "note_on", 5, 72), (0, "note_on", 0, 48), (480, "note_off", 5, 72)]
    events += [(960, "note_off", 0, 48), (2000, "note_on", 0, 60), (2480, "note_off", 0, 60)]
    midi = mido.MidiFile(ticks_per_beat=QUARTER)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    previous = 0
    for tick, kind, channel, pitch in events:
        velocity = 80 if kind == "note_on" else 0
        track.append(mido.Message(kind, channel=channel, note=pitch, velocity=velocity, time=tick - previous))
        previous = tick
    path = tmp_path / "two_channels.mid"
    midi.save(str(path))
    assert [[n.pitch for n in t.notes] for t in symusic.Score(str(path)).tracks] == [[48, 60], [72]]
    assert (encode_cp(path)[:, PITCH] + 22).tolist() == [72, 48, 60]


def test_empty_bars_are_skipped():
    score = make_score(
        [[(0, 480, 60), (3 * TICKS_PER_BAR + 480, 480, 62), (3 * TICKS_PER_BAR + 1000, 60, 64)]]
    )
    tokens = encode_cp(score)
    assert tokens[:, BAR].tolist() == [BAR_NEW, BAR_NEW, BAR_CONTINUE]
    assert decode_cp(tokens).onset.tolist() == [0, TICKS_PER_BAR + 480, TICKS_PER_BAR + 960]


def test_other_resolution_is_rescaled_to_480(tmp_path: Path):
    notes_96 = [(0, 96, 60), (95, 48, 64), (192, 24, 67), (500, 300, 71), (1000, 96, 55)]
    notes_480 = [(5 * t, 5 * d, p) for t, d, p in notes_96]
    path = tmp_path / "tpq96.mid"
    make_score([notes_96], tpq=96).dump_midi(str(path))
    tokens = encode_cp(path)
    assert np.array_equal(tokens, encode_cp(make_score([notes_480])))
    assert not np.array_equal(encode_cp(path, rescale=False), tokens)  # MIDI-BERT's raw ticks


def test_score_in_other_time_units_is_converted():
    score = make_score([[(0, 480, 60), (480, 240, 64), (2000, 480, 67)]])
    assert np.array_equal(encode_cp(score.to("quarter")), encode_cp(score))


def test_out_of_range_pitches_are_dropped():
    score = make_score([[(0, 480, 21), (0, 480, 60), (1920, 480, 108), (2040, 480, 62), (2400, 60, 127)]])
    tokens = encode_cp(score)
    assert (tokens[:, PITCH] + 22).tolist() == [60, 62]
    assert tokens[:, BAR].tolist() == [BAR_NEW, BAR_NEW]  # 62 opens bar 2 once 108 is dropped
    assert tokens[:, 1].tolist() == [0, 1]
    with pytest.raises(InputError) as info:
        encode_cp(make_score([[(0, 480, 10), (480, 480, 120)]]))
    assert info.value.reason == "no_notes"


def test_bad_files_raise_input_error(tmp_path: Path):
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    silent = tmp_path / "silent.mid"
    make_score([[]]).dump_midi(str(silent))
    for path, reason in [(garbage, "corrupt_midi"), (empty, "corrupt_midi"), (silent, "no_notes")]:
        with pytest.raises(InputError) as info:
            encode_cp(path)
        assert (info.value.reason, info.value.item) == (reason, path.stem)


# ------------------------------------------------------------------ chunks and decoding


@pytest.mark.parametrize(("n_notes", "n_chunks"), [(0, 0), (1, 1), (511, 1), (512, 1), (513, 2), (1024, 2)])
def test_chunks_pad_only_the_last_one(n_notes: int, n_chunks: int):
    tokens = np.tile(np.array([[1, 2, 3, 4]]), (n_notes, 1))
    chunks = chunk_cp(tokens)
    assert chunks.shape == (n_chunks, MAX_LEN, 4)
    assert chunks.dtype == np.int64
    flat = chunks.reshape(-1, 4)
    assert np.array_equal(flat[:n_notes], tokens)
    assert (flat[n_notes:] == PAD_WORD).all()


def random_grid_notes(seed: int, n_bars: int = 40) -> np.ndarray:
    """Random notes on the 16th grid, every bar used, distinct (onset, pitch); (n, 3) ticks/pitch."""
    rng = np.random.default_rng(seed)
    rows = set()
    for bar in range(n_bars):
        for _ in range(rng.integers(1, 25)):
            position = rng.integers(1 if bar == n_bars - 1 else 0, 16)
            rows.add(
                (
                    bar * TICKS_PER_BAR + position * 120,
                    int(rng.integers(1, 65)) * 60,
                    int(rng.integers(22, 108)),
                )
            )
    rows = np.array(sorted(rows, key=lambda r: (r[0], r[2])))
    return rows[np.unique(rows[:, [0, 2]], axis=0, return_index=True)[1]]


def sorted_rows(rows: np.ndarray) -> np.ndarray:
    """Rows of (onset, duration, pitch) sorted by onset, pitch, duration."""
    return rows[np.lexsort((rows[:, 1], rows[:, 2], rows[:, 0]))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decode_inverts_encode_up_to_the_latest_onset(seed: int):
    notes = random_grid_notes(seed)
    tokens = encode_cp(make_score([[tuple(map(int, r)) for r in notes]]))
    decoded = decode_cp(chunk_cp(tokens))  # padding rows are skipped
    expected = notes.copy()
    expected[expected[:, 0] == expected[:, 0].max(), 0] -= 120  # MIDI-BERT's grid stops short of it
    got = np.stack([decoded.onset, decoded.duration, decoded.pitch], axis=1)
    assert np.array_equal(sorted_rows(got), sorted_rows(expected))
    assert np.array_equal(decode_cp(tokens).onset, decoded.onset)


# ------------------------------------------------------------------ MIDI-BERT's own EMOPIA tokens


def split_reference_clips(chunks: np.ndarray) -> list[np.ndarray]:
    """Cut MIDI-BERT's chunk array (n, 512, 4) into clips: a chunk ending in padding ends a clip."""
    clips, current = [], []
    for chunk in chunks:
        current.append(chunk)
        if chunk[-1, BAR] == PAD_WORD[BAR]:
            clips.append(np.stack(current))
            current = []
    assert not current, "reference ends inside a clip"
    return clips


@pytest.mark.needs_shared_data
def test_reproduces_midibert_emopia_validation_tokens(shared_data: Path):
    reference_dir = shared_data / "midibert_reference"
    reference = np.load(reference_dir / "emopia_cp_valid.npy")
    labels = np.load(reference_dir / "emopia_cp_valid_ans.npy")
    clip_ids = (shared_data / "emopia" / "split_midibert" / "valid.txt").read_text().split()
    midis = shared_data / "emopia" / "EMOPIA_1.0" / "midis"
    ours = {clip: chunk_cp(encode_cp(midis / f"{clip}.mid", rescale=False)) for clip in clip_ids}

    ref_clips = split_reference_clips(reference)
    assert (len(reference), len(ref_clips), len(clip_ids)) == (114, 107, 107)
    matched, agreement, label_ok, first_chunk = set(), [], 0, 0
    for ref_clip in ref_clips:
        scores = {}
        for clip, chunks in ours.items():
            n = min(len(chunks), len(ref_clip))
            scores[clip] = (chunks[:n] == ref_clip[:n]).sum() / ref_clip.size
        best = max(scores, key=scores.get)
        agreement.append(scores[best])
        if ours[best].shape == ref_clip.shape and np.array_equal(ours[best], ref_clip):
            matched.add(best)
        label_ok += (labels[first_chunk : first_chunk + len(ref_clip)] == EMOPIA_QUADRANT[best[:2]]).all()
        first_chunk += len(ref_clip)
    exact_rate, token_agreement = len(matched) / len(ref_clips), float(np.mean(agreement))
    print(
        f"\nCP vs MIDI-BERT EMOPIA valid: {len(matched)}/{len(ref_clips)} clips exact ({exact_rate:.1%}), "
        f"token agreement {token_agreement:.4%}"
    )
    assert exact_rate == 1.0
    assert token_agreement == 1.0
    assert label_ok == len(ref_clips)


@pytest.mark.needs_shared_data
def test_emopia_needs_raw_ticks_to_match_midibert(shared_data: Path):
    path = shared_data / "emopia" / "EMOPIA_1.0" / "midis" / "Q1_0vLPYiPN7qY_0.mid"
    assert symusic.Score(str(path)).ticks_per_quarter == 384  # MIDI-BERT read these as if at 480
    assert not np.array_equal(encode_cp(path), encode_cp(path, rescale=False))
