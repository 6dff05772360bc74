"""Loaders, splits, augmentation, balance, cache and the `data` CLI, on small files each test writes itself."""
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from compress import CompressError
from compress import cli
from compress.config import DataConfig
from compress.data import augment
from compress.data import dataset
from compress.data import faces
from compress.data import image_data
from compress.data import images
from compress.data import splits

SIDE = 48 * 48


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every test gets its own synthetic-faces cache, so none reads another's files."""
    monkeypatch.setenv("COMPRESS_CACHE", str(tmp_path / "cache"))


def _fer_rows(per_class=(4, 1, 1)):
    """FER2013 rows: for each emotion 0-6, per_class Training / PublicTest / PrivateTest rows.
    Every pixel of a row holds emotion * 30 + the row's number within its emotion, so a row can be traced."""
    rows = []
    for emotion in range(7):
        k = 0
        for usage, n in zip(("Training", "PublicTest", "PrivateTest"), per_class):
            for _ in range(n):
                rows.append((str(emotion), " ".join([str(emotion * 30 + k)] * SIDE), usage))
                k += 1
    return rows


def _write_csv(path, rows, header="emotion,pixels,Usage"):
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


@pytest.fixture
def fer_csv(tmp_path):
    return _write_csv(tmp_path / "fer.csv", _fer_rows())  # 42 rows: 28 / 7 / 7


def _png(path, size=(60, 40), color=(200, 200, 200), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


# --- FER2013 CSV ------------------------------------------------------------------------------

def test_fer_csv_splits_and_labels(fer_csv):
    ds = dataset.load(DataConfig(source=str(fer_csv)))
    assert ds.class_names == images.FER_CLASSES and ds.input_shape == (48, 48, 1)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (28, 7, 7)
    for s in dataset.SPLITS:
        x, y = ds.split(s)
        # each row's pixel value encodes its emotion: label and image must have stayed together
        np.testing.assert_array_equal(np.round(x[:, 0, 0, 0] * 255) // 30, y)
        assert x.dtype == np.float32 and y.dtype == np.int64
    assert sorted(ds.y_val) == list(range(7))  # one PublicTest row per emotion


@pytest.mark.parametrize("positive", ["happy", "Happy", "3"])
def test_fer_positive_by_name_or_code_is_binary(fer_csv, positive):
    ds = dataset.load(DataConfig(source=str(fer_csv), positive=positive))
    assert ds.class_names == ("not-happy", "happy") and ds.classes == 2
    emotion = np.round(ds.x_train[:, 0, 0, 0] * 255) // 30
    np.testing.assert_array_equal(ds.y_train, emotion == 3)
    assert ds.class_counts()["train"] == {"not-happy": 24, "happy": 4}


def test_fer_class_subset_remaps_codes(fer_csv):
    ds = dataset.load(DataConfig(source=str(fer_csv), class_subset="neutral,happy,4"))
    assert ds.class_names == ("happy", "sad", "neutral")  # FER code order, indices 0..2
    emotion = np.round(ds.x_train[:, 0, 0, 0] * 255) // 30
    np.testing.assert_array_equal(np.array([3, 4, 6])[ds.y_train], emotion)
    for positive in ("sad", "4"):  # a code is the source's code (FER2013 sad = 4), not the index in the subset
        binary = dataset.load(DataConfig(source=str(fer_csv), class_subset="happy,sad", positive=positive))
        assert binary.class_names == ("not-sad", "sad") and len(binary.y_train) == 8
    with pytest.raises(CompressError, match="fer.csv: --positive angry is not among --classes happy,sad"):
        dataset.load(DataConfig(source=str(fer_csv), class_subset="happy,sad", positive="angry"))


def test_fer_without_usage_gets_stratified_split(tmp_path):
    rows = [r[:2] for r in _fer_rows(per_class=(10, 0, 0))]
    ds = dataset.load(DataConfig(source=str(_write_csv(tmp_path / "train.csv", rows, header="emotion,pixels"))))
    counts = ds.class_counts()
    assert all(counts["val"][c] == 1 and counts["test"][c] == 1 for c in ds.class_names)
    assert len(ds.y_train) == 56


def test_fer_resize_and_rgb(fer_csv):
    ds = dataset.load(DataConfig(source=str(fer_csv), size=32, channels=3))
    assert ds.input_shape == (32, 32, 3)
    # constant images stay constant through resize and channel copies
    np.testing.assert_allclose(ds.x_train.std(axis=(1, 2, 3)), 0, atol=1e-6)


# --- image folders and .npz -------------------------------------------------------------------

def test_folder_center_crops_resizes_and_labels(tmp_path):
    for cls, value in (("cat", 40), ("dog", 220)):
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i in range(10):
            img = Image.new("RGB", (60, 40), (255, 0, 0))  # red margins left and right...
            img.paste(Image.new("RGB", (40, 40), (value,) * 3), (10, 0))  # ...are cropped away
            img.save(tmp_path / "d" / cls / f"{i}.png")
    ds = dataset.load(DataConfig(source=str(tmp_path / "d"), channels=3))
    assert ds.class_names == ("cat", "dog") and ds.input_shape == (48, 48, 3)
    assert sum(len(ds.split(s)[1]) for s in dataset.SPLITS) == 20
    x, y = ds.x_train, ds.y_train
    expected = np.broadcast_to(np.where(y == 0, 40, 220)[:, None, None, None] / 255, x.shape)
    np.testing.assert_allclose(x, expected, atol=1 / 255)


def test_folder_with_split_dirs(tmp_path):
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        for cls in ("a", "b"):
            for i in range(n):
                _png(tmp_path / split / cls / f"{i}.jpg", size=(30, 30))
    ds = dataset.load(DataConfig(source=str(tmp_path), size=24))
    assert ds.class_counts() == {"train": {"a": 6, "b": 6}, "val": {"a": 2, "b": 2}, "test": {"a": 3, "b": 3}}
    assert ds.input_shape == (24, 24, 1)


def test_npz_with_names_split_and_resize(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 20, 20), dtype=np.uint8)
    y = np.array(["yes", "no"] * 20)
    split = np.array(["train"] * 30 + ["val"] * 6 + ["test"] * 4)
    np.savez(tmp_path / "s.npz", x=x, y=y, split=split)
    ds = dataset.load(DataConfig(source=str(tmp_path / "s.npz"), positive="yes"))
    assert ds.class_names == ("not-yes", "yes") and ds.input_shape == (48, 48, 1)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (30, 6, 4)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0


def test_npz_leave_one_group_out(tmp_path):
    y = np.tile([0, 1], 30)
    group = np.repeat(["s1", "s2", "s3"], 20)
    np.savez(tmp_path / "g.npz", x=np.zeros((60, 8, 8), np.float32), y=y, group=group)
    ds = dataset.load(DataConfig(source=str(tmp_path / "g.npz"), size=8, holdout_group="s2"))
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (20, 20, 20)  # s1 / s3 (next after s2) / s2
    with pytest.raises(CompressError, match="s9"):
        dataset.load(DataConfig(source=str(tmp_path / "g.npz"), size=8, holdout_group="s9"))


# --- splits, synthetic faces, cache -----------------------------------------------------------

def test_stratified_split_is_deterministic_and_proportional():
    y = np.repeat([0, 1, 2], [500, 300, 200])
    a, b, c = splits.stratified_split(y, 0), splits.stratified_split(y, 0), splits.stratified_split(y, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for cls, n in ((0, 500), (1, 300), (2, 200)):
        assert np.bincount(a[y == cls], minlength=3).tolist() == [n * 8 // 10, n // 10, n // 10]


def test_synthetic_defaults_small(tmp_path):
    ds = dataset.load(DataConfig(samples=300, seed=3))
    assert ds.name == "synthetic-faces" and ds.class_names == ("not-happy", "happy")
    assert ds.input_shape == (48, 48, 1) and sum(len(ds.split(s)[1]) for s in dataset.SPLITS) == 300
    assert 0.35 < ds.y_train.mean() < 0.65  # the binary task is balanced
    again = dataset.load(DataConfig(samples=300, seed=3), cache_dir=tmp_path / "other")  # regenerated elsewhere: same data
    np.testing.assert_array_equal(ds.x_val, again.x_val)
    other = dataset.load(DataConfig(samples=300, seed=4))
    assert not np.array_equal(ds.x_val, other.x_val)


def test_synthetic_4class_rgb_size():
    ds = dataset.load(DataConfig(task="4class", samples=200, size=32, channels=3))
    assert ds.class_names == faces.EXPRESSIONS and ds.input_shape == (32, 32, 3)
    assert set(ds.y_train.tolist()) == {0, 1, 2, 3}


def test_synthetic_label_noise_rate():
    _, codes, flips, _ = faces.generate(600, seed=0, size=24)
    assert 0.05 < flips.mean() < 0.13  # seed 001's 9 %
    assert set(codes.tolist()) == {0, 1, 2, 3}
    y = image_data._add_label_noise(codes, 4, flips, np.random.default_rng(0).uniform(size=600))
    assert np.all((y != codes) == flips) and y.max() == 3


def test_synthetic_cache_is_reused(tmp_path, monkeypatch):
    first = dataset.load(DataConfig(samples=200), cache_dir=tmp_path)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the generator ran although the set was cached")

    monkeypatch.setattr(faces, "generate", must_not_run)
    second = dataset.load(DataConfig(samples=200), cache_dir=tmp_path)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    with pytest.raises(AssertionError, match="cached"):
        dataset.load(DataConfig(samples=200, seed=1), cache_dir=tmp_path)  # other parameters, other key


def test_data_module_does_not_import_tensorflow():
    code = ("import sys, compress.data.dataset as d; from compress.config import DataConfig; d.load(DataConfig(samples=60, size=16)); "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- augmentation, balance, resize ------------------------------------------------------------

def test_augment_changes_pixels_but_keeps_shape_and_range():
    x = np.random.default_rng(0).uniform(0.2, 0.8, (64, 48, 48, 1)).astype(np.float32)
    out = augment.augment(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    changed = np.abs(out - x).max(axis=(1, 2, 3)) > 0.01
    assert 0.8 < changed.mean() <= 1.0
    np.testing.assert_array_equal(out, augment.augment(x, np.random.default_rng(1)))  # reproducible
    np.testing.assert_allclose(augment.augment(x, np.random.default_rng(1), p=0.0), x, atol=1e-5)


def test_balance():
    y = np.array([0] * 30 + [1] * 10)
    x = y[:, None].astype(np.float32)
    xo, yo, w = augment.balance(x, y, "oversample", np.random.default_rng(0))
    assert np.bincount(yo).tolist() == [30, 30] and w is None
    np.testing.assert_array_equal(xo[:, 0], yo)  # images stay with their labels
    _, _, w = augment.balance(x, y, "class-weight", np.random.default_rng(0))
    assert w == pytest.approx({0: 40 / 60, 1: 40 / 20})
    assert augment.balance(x, y, "none", None)[0] is x
    with pytest.raises(CompressError):
        augment.balance(x, y, "smote", None)


def test_resized_matches_pillow_and_is_memoised(fer_csv):
    x = np.random.default_rng(0).uniform(0, 1, (2, 48, 48, 1)).astype(np.float32)
    ours = images.resize_batch(x, 20)
    pil = np.asarray(Image.fromarray(x[0, ..., 0], mode="F").resize((20, 20), Image.BILINEAR))
    np.testing.assert_allclose(ours[0, ..., 0], pil, atol=2e-3)
    ds = dataset.load(DataConfig(source=str(fer_csv)))
    small = ds.resized(24)
    assert small.input_shape == (24, 24, 1) and small is ds.resized(24) and ds.resized(48) is ds
    np.testing.assert_array_equal(small.y_val, ds.y_val)


# --- bad input: one line naming the file ------------------------------------------------------

def test_missing_file(tmp_path, capsys):
    with pytest.raises(CompressError, match="nope.csv"):
        dataset.load(DataConfig(source=str(tmp_path / "nope.csv")))
    assert cli.main(["data", "inspect", str(tmp_path / "nope.csv")]) != 0
    err = capsys.readouterr().err
    assert "nope.csv" in err and err.count("\n") == 1


@pytest.mark.parametrize("row, message", [
    (("3", "1 2 3", "Training"), r"bad.csv: row 3: 3 pixel values"),
    (("3", " ".join(["7"] * (SIDE - 1) + ["x"]), "Training"), r"bad.csv: row 3: pixels are not all numbers"),
    (("9", " ".join(["7"] * SIDE), "Training"), r"bad.csv: row 3: emotion '9'"),
])
def test_bad_csv_rows(tmp_path, row, message):
    path = _write_csv(tmp_path / "bad.csv", [("0", " ".join(["1"] * SIDE), "Training"), row])
    with pytest.raises(CompressError, match=message):
        dataset.load(DataConfig(source=str(path)))


def test_csv_without_required_columns(tmp_path):
    path = _write_csv(tmp_path / "other.csv", [("1", "2")], header="label,image")
    with pytest.raises(CompressError, match=r"other.csv: not a FER2013 CSV: missing column\(s\) emotion, pixels"):
        dataset.load(DataConfig(source=str(path)))


def test_unknown_positive_class(fer_csv):
    with pytest.raises(CompressError, match=r"fer.csv: unknown class 'joyful' for --positive"):
        dataset.load(DataConfig(source=str(fer_csv), positive="joyful"))
    with pytest.raises(CompressError, match="synthetic-faces: unknown class 'angry'"):
        dataset.load(DataConfig(positive="angry", samples=50))


def test_empty_class_folder(tmp_path):
    for i in range(5):
        _png(tmp_path / "a" / f"{i}.png")
    (tmp_path / "b").mkdir()
    with pytest.raises(CompressError, match=r"b: empty class folder"):
        dataset.load(DataConfig(source=str(tmp_path)))


def test_corrupt_images_skipped_with_count_or_fatal_when_all(tmp_path, caplog):
    for cls in ("a", "b"):
        for i in range(10):
            _png(tmp_path / "ok" / cls / f"{i}.png", color=(50 if cls == "a" else 150,) * 3)
    (tmp_path / "ok" / "a" / "broken.png").write_bytes(b"not a png at all")
    with caplog.at_level(logging.WARNING, logger="compress.data"):
        ds = dataset.load(DataConfig(source=str(tmp_path / "ok")))
    assert "skipped 1 unreadable image(s) of 21" in caplog.text and "broken.png" in caplog.text
    assert sum(len(ds.split(s)[1]) for s in dataset.SPLITS) == 20
    for cls in ("a", "b"):
        (tmp_path / "bad" / cls).mkdir(parents=True)
        (tmp_path / "bad" / cls / "x.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(CompressError, match=r"bad: none of the 2 images could be read, e.g. .*x.jpg"):
        dataset.load(DataConfig(source=str(tmp_path / "bad")))


def test_single_class_is_an_error(tmp_path):
    rows = [r for r in _fer_rows() if r[0] == "3"]
    path = _write_csv(tmp_path / "only_happy.csv", rows)
    with pytest.raises(CompressError, match=r"only_happy.csv: a single class \(happy\): ROC AUC is undefined"):
        dataset.load(DataConfig(source=str(path)))


# --- CLI ----------------------------------------------------------------------------------------

def test_cli_inspect_json(fer_csv, tmp_path, capsys):
    assert cli.main(["data", "inspect", str(fer_csv), "--positive", "happy", "--out", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["counts"]["train"] == {"not-happy": 24, "happy": 4}
    assert info["imbalance_ratio"] == 6.0 and info["input_shape"] == [48, 48, 1]
    with Image.open(info["contact_sheet"]) as sheet:
        assert sheet.size[1] == 2 * (96 + 2)  # one row per class


def test_cli_inspect_synthetic_text(tmp_path, capsys):
    assert cli.main(["data", "inspect", "synthetic-faces", "--samples", "200", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "synthetic-faces: 200 images, 48x48x1, 2 classes" in out and "imbalance ratio" in out
    assert (tmp_path / "synthetic-faces_samples.png").exists()


def test_cli_generate_writes_a_folder_the_loader_reads_back(tmp_path, capsys):
    out = tmp_path / "faces"
    assert cli.main(["data", "generate", "--out", str(out), "--samples", "120", "--task", "4class"]) == 0
    assert "wrote 120 images" in capsys.readouterr().out
    generated = dataset.load(DataConfig(samples=120, task="4class"))
    back = dataset.load(DataConfig(source=str(out)))
    assert back.class_counts() == generated.class_counts()
    means = [sorted(np.round(d.x_val.mean(axis=(1, 2, 3)), 4)) for d in (back, generated)]
    assert means[0] == means[1]  # the same images came back
