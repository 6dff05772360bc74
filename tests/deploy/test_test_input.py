"""test_input.npz's one writer and one reader (compress.deploy.test_input): what export writes reads back, a hand-made
file with only x and label is enough, and a broken one is one CompressError naming the file."""
import numpy as np
import pytest

from compress import CompressError
from compress.deploy.test_input import SelfTestInput, read_inputs, read_test_input, write_test_input


def test_a_single_task_file_round_trips_in_the_old_layout(tmp_path):
    x = np.arange(-4, 4, dtype=np.int8).reshape(1, 2, 4, 1)
    write_test_input(tmp_path / "t.npz", SelfTestInput(x=x, label=np.int64(1), predicted=np.int64(1), index=7,
                                                       class_names=("dim", "bright")))
    with np.load(tmp_path / "t.npz") as npz:
        assert npz.files == ["x", "label", "predicted", "index", "class_names"]
        assert npz["label"].dtype == np.int64 and npz["label"].shape == ()
    found = read_test_input(tmp_path / "t.npz")
    assert np.array_equal(found.x, x) and found.expected == 1 and found.index == 7
    assert found.class_names == ("dim", "bright") and found.tasks is None and found.correct is None


def test_a_multi_task_file_names_its_tasks_and_expects_a_class_per_task(tmp_path):
    x = np.zeros((1, 20, 1, 8), np.int8)
    write_test_input(tmp_path / "t.npz", SelfTestInput(x=x, label=np.array([1, 0]), predicted=np.array([1, 1]),
                                                       index=3, class_names=("low", "high"),
                                                       tasks=("arousal", "valence"), correct=1))
    with np.load(tmp_path / "t.npz") as npz:
        assert npz.files == ["x", "label", "predicted", "index", "class_names", "tasks", "correct"]
    found = read_test_input(tmp_path / "t.npz")
    assert found.expected == {"arousal": 1, "valence": 0} and found.tasks == ("arousal", "valence")
    assert found.correct == 1


def test_x_and_label_are_enough(tmp_path):
    np.savez(tmp_path / "t.npz", x=np.zeros((1, 4), np.float32), label=np.int64(0))
    found = read_test_input(tmp_path / "t.npz")
    assert found.expected == 0 and found.class_names is None and found.predicted is None


@pytest.mark.parametrize("arrays", [{"x": np.zeros(4)}, {"x": np.zeros(4), "label": np.array([0.5])},
                                    {"x": np.zeros(4), "label": np.array([0, 1]), "tasks": np.array(["a"])}])
def test_a_file_the_firmware_cannot_use_is_one_error(tmp_path, arrays):
    np.savez(tmp_path / "t.npz", **arrays)
    with pytest.raises(CompressError, match="t.npz"):
        read_test_input(tmp_path / "t.npz")


def test_garbage_is_one_error(tmp_path):
    (tmp_path / "t.npz").write_bytes(b"not a zip")
    with pytest.raises(CompressError, match="not a readable test input"):
        read_test_input(tmp_path / "t.npz")
    with pytest.raises(CompressError, match="cannot read an input array"):
        read_inputs(tmp_path / "t.npz")


def test_inputs_are_x_else_the_first_array(tmp_path):
    np.savez(tmp_path / "a.npz", other=np.ones(3), x=np.zeros(2))
    np.savez(tmp_path / "b.npz", images=np.ones(3))
    assert read_inputs(tmp_path / "a.npz").tolist() == [0, 0] and read_inputs(tmp_path / "b.npz").tolist() == [1, 1, 1]
