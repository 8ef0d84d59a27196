"""Does the ingest door let in regular files only, and name everything it refuses?"""

import os

from autograder.ingest import FILE_CAP, ingest


def test_regular_notebooks_and_the_timestamp_come_in(tmp_path):
    (tmp_path / "04-backprop.ipynb").write_text("{}")
    (tmp_path / "timestamp.txt").write_text("2026-11-20 12:00:00")
    intake = ingest(tmp_path)
    assert set(intake.files) == {"04-backprop.ipynb", "timestamp.txt"} and not intake.refused


def test_links_fifos_folders_hard_links_and_big_files_are_refused_and_named(tmp_path):
    other = tmp_path.parent / f"{tmp_path.name}-peer.ipynb"
    other.write_text("a classmate's notebook")
    os.symlink(other, tmp_path / "peer.ipynb")
    os.link(other, tmp_path / "hard.ipynb")
    os.mkfifo(tmp_path / "extra.ipynb")
    (tmp_path / "sub").mkdir()
    (tmp_path / "big.ipynb").write_bytes(b"x" * (FILE_CAP + 1))
    (tmp_path / "notes.txt").write_text("hi")
    intake = ingest(tmp_path)
    refused = "\n".join(intake.refused)
    assert intake.files == {}
    for line in ("peer.ipynb: a symbolic link", "hard.ipynb: a hard link",
                 "extra.ipynb: a FIFO", "sub: a folder", "big.ipynb: ",
                 "notes.txt: not part of the assignment"):  # fmt: skip
        assert line in refused, refused


def test_a_linked_submission_folder_is_not_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "04-backprop.ipynb").write_text("{}")
    os.symlink(real, tmp_path / "linked")
    intake = ingest(tmp_path / "linked")
    assert intake.files == {} and "not a readable folder" in intake.refused[0]


def test_the_exchange_secret_comes_in_but_only_as_a_line(tmp_path):
    (tmp_path / "04-backprop.ipynb").write_text("{}")
    (tmp_path / "submission_secret.txt").write_text("c2VjcmV0")
    assert "submission_secret.txt" in ingest(tmp_path).files
    (tmp_path / "submission_secret.txt").write_text("x" * 5000)
    intake = ingest(tmp_path)
    assert "submission_secret.txt" not in intake.files
    assert any("more than nbgrader writes" in why for why in intake.refused)
