"""Output folders appear whole or not at all."""

import pytest

from fastmax.data.staging import staged_folder


def test_success_renames_the_staged_folder_into_place(tmp_path):
    out = tmp_path / "nested" / "out"
    with staged_folder(out) as tmp:
        assert tmp.parent == out.parent
        assert tmp.name.startswith(".out.partial-")
        (tmp / "file").write_text("done")
    assert (out / "file").read_text() == "done"
    assert [path.name for path in out.parent.iterdir()] == ["out"]


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()])
def test_error_or_interrupt_leaves_nothing(tmp_path, error):
    out = tmp_path / "out"
    with pytest.raises(type(error)), staged_folder(out) as tmp:
        (tmp / "half").write_text("half written")
        raise error
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FileExistsError, match=r"--out .*out: already exists"), staged_folder(out):
        pytest.fail("the block must not run")
    assert [path.name for path in tmp_path.iterdir()] == ["out"]
