from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from merflow.core.errors import InputError
from merflow.core.io import (
    atomic_path,
    matrix_list_array,
    matrix_list_views,
    read_json,
    read_matrix_table,
    read_parquet_metadata,
    write_json,
    write_parquet,
)
from merflow.core.ledger import LEDGER_COLUMNS, Ledger, merge_ledgers


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_existing_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".txt"
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_json_and_parquet_round_trip_with_metadata(tmp_path):
    write_json({"b": 1, "a": [1, 2]}, tmp_path / "x.json")
    assert read_json(tmp_path / "x.json") == {"a": [1, 2], "b": 1}
    frame = pd.DataFrame({"clip_id": ["a", "b"], "tokens": [[1, 2, 3], [4]]})
    write_parquet(frame, tmp_path / "x.parquet", {"hop_length": 512, "frame_rate": 43.07})
    back = pd.read_parquet(tmp_path / "x.parquet")
    assert back["tokens"].map(list).tolist() == [[1, 2, 3], [4]]
    assert read_parquet_metadata(tmp_path / "x.parquet") == {"hop_length": 512, "frame_rate": 43.07}


def test_input_error_names_item_path_and_reason():
    error = InputError("clip_7", "corrupt_midi", "cannot parse", "/data/clip_7.mid")
    assert str(error) == "clip_7 (/data/clip_7.mid): corrupt_midi: cannot parse"


def test_ledger_rows_and_merge(tmp_path):
    empty = Ledger("download", "demo")
    empty.write(tmp_path / "a.csv")
    assert pd.read_csv(tmp_path / "a.csv").columns.tolist() == LEDGER_COLUMNS
    ledger = Ledger("transcribe", "demo")
    ledger.record(InputError("clip_1", "no_notes", "nothing detected", "x.wav"))
    ledger.write(tmp_path / "b.csv")
    assert ledger.failed_items == {"clip_1"}
    merged = merge_ledgers([tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "all.csv")
    assert len(merged) == 1
    row = pd.read_csv(tmp_path / "all.csv").iloc[0]
    assert (row["stage"], row["item"], row["reason"]) == ("transcribe", "clip_1", "no_notes")


def test_matrix_list_array_round_trips_through_parquet(tmp_path) -> None:
    import numpy as np
    import pyarrow as pa

    from merflow.core.io import matrix_list_array

    matrices = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((3, 1), np.float32), np.zeros((1, 4))]
    table = pa.table({"clip_id": ["a", "b", "c"], "m": matrix_list_array(matrices)})
    write_parquet(table, tmp_path / "m.parquet", {"frame_rate_hz": 43.0})
    back = pd.read_parquet(tmp_path / "m.parquet")
    for cell, expected in zip(back["m"], matrices, strict=True):
        np.testing.assert_array_equal(np.stack(cell), expected)
        assert np.stack(cell).dtype == np.float32
    assert read_parquet_metadata(tmp_path / "m.parquet") == {"frame_rate_hz": 43.0}
    with pytest.raises(ValueError, match="2-D"):
        matrix_list_array([np.zeros(3)])


def test_matrix_list_views_give_back_the_matrices_without_copies(tmp_path):
    rng = np.random.default_rng(0)
    matrices = [rng.normal(size=shape).astype(np.float32) for shape in ((3, 5), (3, 1), (0, 0), (2, 7))]
    column = matrix_list_array(matrices)
    views = matrix_list_views(column)
    assert [v.shape for v in views] == [(3, 5), (3, 1), (0, 0), (2, 7)]
    for view, matrix in zip(views, matrices, strict=True):
        np.testing.assert_array_equal(view, matrix)
        assert not view.flags.writeable  # a view of the Arrow buffer, not a copy
    for view, matrix in zip(matrix_list_views(column.slice(1)), matrices[1:], strict=True):
        np.testing.assert_array_equal(view, matrix)

    path = tmp_path / "frames.parquet"
    write_parquet(pa.table({"clip_id": ["a", "b", "c", "d"], "n": [5, 1, 0, 7], "m": column}), path)
    table = read_matrix_table(path, ["clip_id", "m", "n"])
    assert list(table.columns) == ["clip_id", "m", "n"] and table["n"].tolist() == [5, 1, 0, 7]
    pandas_cells = pd.read_parquet(path)["m"]  # what pandas gives: object arrays of rows
    for view, cell in zip(table["m"], pandas_cells, strict=True):
        np.testing.assert_array_equal(view, np.stack(cell) if len(cell) else np.zeros((0, 0), np.float32))


def test_matrix_list_views_reject_ragged_matrices():
    ragged = pa.array([[[1.0, 2.0], [3.0]]], type=pa.list_(pa.list_(pa.float32())))
    with pytest.raises(ValueError, match="rows of different lengths"):
        matrix_list_views(ragged)
