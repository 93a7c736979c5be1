"""inr.io: atomic writes keep the old file on failure, give the mode open() would, and their
temporary names are found for exactly the file they belong to."""
import os
import stat

import pytest

from inr.io import atomic_path, stale_temporaries, write_text_atomic


def test_an_atomic_write_gets_the_mode_a_plain_open_would(tmp_path):
    write_text_atomic(tmp_path / "a.json", "{}")
    (tmp_path / "plain.json").write_text("{}")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "a.json") == mode(tmp_path / "plain.json")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]


def test_stale_temporaries_are_those_of_one_file_only(tmp_path):
    ours = [tmp_path / ".run.mp4.ab12cd34.tmp.mp4", tmp_path / ".run.mp4.zz_99xyz.tmp.mp4"]
    others = [tmp_path / ".run2.mp4.ab12cd34.tmp.mp4", tmp_path / ".run.mp4.ab12.tmp.mp4",
              tmp_path / "run.mp4"]
    for p in ours + others:
        p.write_bytes(b"x")
    assert stale_temporaries(tmp_path / "run.mp4") == sorted(ours)
    assert stale_temporaries(tmp_path / "missing" / "run.mp4") == []
