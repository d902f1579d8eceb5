"""Where the re-run box says the code is: a network remote when there is one, never a path."""

from unittest import mock

import pytest

from lib.book import rerun


@pytest.mark.parametrize("remote, shown", [
    ("https://github.com/owner/repo", "https://github.com/owner/repo"),
    ("git@github.com:owner/repo.git", "git@github.com:owner/repo.git"),
    ("/work/main", ""),
    ("file:///srv/repo", ""),
    ("", ""),
])
def test_repository_url_shows_only_network_addresses(remote, shown):
    done = mock.Mock(returncode=0 if remote else 2, stdout=remote)
    with mock.patch.object(rerun.subprocess, "run", return_value=done):
        assert rerun.repository_url() == shown


def test_the_box_always_offers_the_shipped_source_and_a_clone_line_only_with_a_remote():
    where, lines = rerun.get_the_code("")
    assert "scaling-universality.tar.gz" in where and "git clone" not in lines
    assert lines.startswith("tar xzf scaling-universality.tar.gz")
    where, lines = rerun.get_the_code("https://github.com/owner/repo")
    assert "[https://github.com/owner/repo](https://github.com/owner/repo)" in where
    assert "git clone https://github.com/owner/repo" in lines


def test_source_files_of_a_tree_without_git_leave_out_what_is_not_source(tmp_path):
    from lib.book.build import source_files, write_source_archive

    for name in ("Makefile", "lib/core/x.py", "book/a.md", ".venv/lib/site.py",
                 "_build/html/index.html", "results/default/c/claims.json",
                 "lib/core/__pycache__/x.cpython-311.pyc", "_vendor/real/model.gguf"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert source_files(tmp_path) == ["Makefile", "book/a.md", "lib/core/x.py"]
    import tarfile

    archive = write_source_archive(tmp_path / "out" / "src.tar.gz", tmp_path)
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["scaling-universality/Makefile",
                                          "scaling-universality/book/a.md",
                                          "scaling-universality/lib/core/x.py"]
