"""Wearable signals: the generator, resampling and window math, per-subject z-scores, the K-EmoCon loader, bad input."""
import time

import numpy as np
import pytest

from compress import CompressError
from compress import cli, options
from compress.config import DataConfig
from compress.data import dataset, signals, wearable_data, wearables
from compress.data.signals import Recording

START_MS = 1_567_000_000_000  # K-EmoCon timestamps are UNIX milliseconds


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """A cache of its own per test, and no windows memoised by another test."""
    monkeypatch.setenv("COMPRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(wearable_data, "_PREPARED", {})


# --- the generator ------------------------------------------------------------------------------------------
def _same(a: Recording, b: Recording) -> bool:
    return (a.subject == b.subject and np.array_equal(a.arousal, b.arousal) and np.array_equal(a.valence, b.valence)
            and all(np.array_equal(a.signals[c][k], b.signals[c][k]) for c in signals.CHANNELS for k in (0, 1)))


def test_generator_is_deterministic_and_a_subject_depends_only_on_seed_and_index():
    first, again = wearables.generate(3, seed=5, minutes=2), wearables.generate(3, seed=5, minutes=2)
    assert all(_same(a, b) for a, b in zip(first, again))
    more = wearables.generate(5, seed=5, minutes=2)
    assert all(_same(a, b) for a, b in zip(first, more[:3]))  # more subjects extend the set, never reshuffle it
    other = wearables.generate(1, seed=6, minutes=2)[0]
    assert not np.array_equal(other.signals["eda"][1][:100], first[0].signals["eda"][1][:100])


def test_generator_makes_native_rates_skewed_reports_and_dropouts_in_seconds():
    start = time.monotonic()
    recs = wearables.generate(wearables.SUBJECTS, seed=0)
    assert time.monotonic() - start < 10  # the whole default set (16 x 10 min) takes well under a second here
    rec = recs[0]
    for channel, hz in signals.NATIVE_HZ.items():
        t = rec.signals[channel][0]
        assert np.median(np.diff(t)) == pytest.approx(1 / hz)
    assert sum(len(r.signals["bvp"][0]) < 600 * 64 for r in recs) >= 4  # some subjects lost samples
    assert np.array_equal(rec.report_s, np.arange(5, 601, 5))
    high = np.mean([np.mean(r.arousal >= 4) for r in recs])
    assert 0.1 < high < 0.45  # skewed towards low, as K-EmoCon's labels are
    assert all(set(np.unique(r.arousal >= 4)) == {False, True} for r in recs)


def test_arousal_drives_eda_and_heart_rate():
    """Pooled over subjects, high-arousal windows have higher z-scored EDA and HR than low ones."""
    per_subject = wearable_data.windows(DataConfig(source=wearables.SYNTHETIC_WEARABLES, subjects=6))
    x = np.concatenate([w for w, _ in per_subject.values()])[:, :, 0, :].mean(axis=1)
    y = np.concatenate([labels for _, labels in per_subject.values()])
    for channel in ("eda", "hr"):
        c = signals.CHANNELS.index(channel)
        assert x[y == 1, c].mean() > x[y == 0, c].mean() + 0.3


# --- resampling and windows -------------------------------------------------------------------------------
def test_resample_averages_down_and_interpolates_up():
    t64 = np.arange(64) / 64
    assert np.allclose(signals.resample(t64, np.arange(64.0), 4.0, 4), [7.5, 23.5, 39.5, 55.5])
    t1 = np.array([0.0, 1.0, 2.0])
    assert np.allclose(signals.resample(t1, np.array([0.0, 10.0, 20.0]), 4.0, 9), np.arange(9) * 2.5)
    # samples 16-31 dropped: that interval is interpolated between its neighbours' means (7.5 and 39.5)
    keep = (np.arange(64) < 16) | (np.arange(64) >= 32)
    assert np.allclose(signals.resample(t64[keep], np.arange(64.0)[keep], 4.0, 4), [7.5, 23.5, 39.5, 55.5])


def test_windows_stay_inside_one_label_run():
    labels = np.array([-1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, -1, -1])
    starts = signals.window_starts(labels, 3, 1)
    assert starts.tolist() == [1, 2, 5, 8]
    for s in starts:
        assert len(set(labels[s:s + 3])) == 1 and labels[s] >= 0
    assert signals.window_starts(labels, 3, 2).tolist() == [1, 5, 8]


def test_a_report_labels_the_five_seconds_before_it():
    rec = Recording("s", {}, np.array([5.0, 10.0]), np.array([2, 5]), np.array([4, 1]))
    assert signals.sample_labels(rec, "arousal", 1.0, 12).tolist() == [0] * 5 + [1] * 5 + [-1] * 2
    assert signals.sample_labels(rec, "valence", 1.0, 12).tolist() == [1] * 5 + [0] * 5 + [-1] * 2


# --- the data set: subjects, z-scores, splits -----------------------------------------------------------------
def test_validation_is_the_next_fifth_of_the_subjects():
    groups = np.array(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "j"])
    split = wearable_data.subject_split(groups, sorted(set(groups)), "i")
    assert split.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1]  # 10 subjects: i held out, j and (wrapping) a


def test_dataset_holds_out_one_subject_with_the_next_as_validation():
    config = DataConfig(source=wearables.SYNTHETIC_WEARABLES, subjects=4, holdout_group="S03")
    data = dataset.load(config)
    per_subject = wearable_data.windows(config)
    assert data.input_shape == (20, 1, 4) and data.subjects == ("S01", "S02", "S03", "S04")
    assert np.array_equal(data.x_test, per_subject["S03"][0]) and np.array_equal(data.x_val, per_subject["S04"][0])
    assert len(data.y_train) == len(per_subject["S01"][1]) + len(per_subject["S02"][1])
    assert data.class_names == ("low-arousal", "high-arousal") and not data.augmentable
    with pytest.raises(CompressError, match="S09"):
        dataset.load(DataConfig(source=wearables.SYNTHETIC_WEARABLES, subjects=4, holdout_group="S09"))


def test_zscores_are_per_subject_and_the_held_out_subject_never_reaches_training(tmp_path):
    recs = wearables.generate(4, seed=0, minutes=2)
    root = _write_folder(tmp_path / "a", recs)
    base = dataset.load(DataConfig(source=str(root), holdout_group="S04", hop_s=5.0))
    changed = [recs[0], recs[1], recs[2], _scaled(recs[3], 10.0)]
    other = dataset.load(DataConfig(source=str(_write_folder(tmp_path / "b", changed)), holdout_group="S04",
                                    hop_s=5.0))
    assert np.array_equal(base.x_train, other.x_train) and np.array_equal(base.x_val, other.x_val)
    assert np.allclose(base.x_test, other.x_test, atol=1e-4)  # its own statistics: a gain change cancels out
    signal = signals.zscore(np.random.default_rng(0).normal(5, 3, (400, 4)))
    assert np.allclose(signal.mean(0), 0, atol=1e-5) and np.allclose(signal.std(0), 1, atol=1e-5)


def _scaled(rec: Recording, gain: float) -> Recording:
    return Recording(rec.subject, {c: (t, v * gain + 1) for c, (t, v) in rec.signals.items()}, rec.report_s,
                     rec.arousal, rec.valence)


# --- K-EmoCon-layout folders ------------------------------------------------------------------------------------
def _write_csv(path, header: str, rows) -> None:
    path.write_text(header + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows))


def _write_folder(root, recs, skip=None):
    """One folder per participant: BVP/EDA/TEMP/HR.csv (timestamp ms, value) and annotations.csv."""
    for rec in recs:
        folder = root / rec.subject
        folder.mkdir(parents=True)
        for channel, (t, v) in rec.signals.items():
            if channel != skip:
                _write_csv(folder / f"{channel.upper()}.csv", "timestamp,value", zip(START_MS + t * 1000, v))
        _write_csv(folder / "annotations.csv", "seconds,arousal,valence", zip(rec.report_s, rec.arousal,
                                                                             rec.valence))
    return root


def test_loader_reads_a_kemocon_folder_like_the_generated_recordings(tmp_path):
    recs = wearables.generate(3, seed=1, minutes=2)
    root = _write_folder(tmp_path / "kemocon", recs)
    config = DataConfig(source=str(root), target="valence", holdout_group="S02")
    data = dataset.load(config)
    direct = signals.subject_windows(recs[1], DataConfig(target="valence"), "x")
    assert data.name == "kemocon" and data.subjects == ("S01", "S02", "S03")
    assert np.allclose(data.x_test, direct[0], atol=1e-4) and np.array_equal(data.y_test, direct[1])


def test_missing_sensor_file_is_one_line(tmp_path):
    root = _write_folder(tmp_path / "k", wearables.generate(3, seed=0, minutes=2), skip="temp")
    with pytest.raises(CompressError, match=r"S01: missing TEMP.csv"):
        dataset.load(DataConfig(source=str(root)))


def test_timestamps_out_of_order_are_one_line(tmp_path):
    root = _write_folder(tmp_path / "k", wearables.generate(3, seed=0, minutes=2))
    path = root / "S02" / "EDA.csv"
    lines = path.read_text().splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CompressError, match=r"S02/EDA.csv: row 7, column 'timestamp': timestamps out of order "):
        dataset.load(DataConfig(source=str(root)))


def test_window_longer_than_the_recording_is_one_line(tmp_path):
    root = _write_folder(tmp_path / "k", wearables.generate(3, seed=0, minutes=2))
    with pytest.raises(CompressError, match=r"--window-s 200 is longer than subject S01's recording \(1"):
        dataset.load(DataConfig(source=str(root), window_s=200))


def test_subject_with_a_single_label_class_is_one_line(tmp_path):
    recs = wearables.generate(3, seed=0, minutes=2)
    recs[2] = Recording("S03", recs[2].signals, recs[2].report_s, np.full(len(recs[2].report_s), 2), recs[2].valence)
    root = _write_folder(tmp_path / "k", recs)
    with pytest.raises(CompressError, match="subject S03 has only low arousal windows"):
        dataset.load(DataConfig(source=str(root)))


def test_cli_options_reach_the_data_config():
    args = cli.build_parser().parse_args(["search", "--data", "synthetic-wearables", "--loso", "--rate", "8",
                                          "--window-s", "4", "--hop-s", "2", "--target", "valence",
                                          "--holdout-subject", "S05", "--subjects", "6"])
    config = options.data_config(args)
    assert (config.loso, config.rate_hz, config.window_s, config.hop_s, config.target, config.holdout_group,
            config.subjects) == (True, 8.0, 4.0, 2.0, "valence", "S05", 6)
    with pytest.raises(SystemExit):  # argparse's one-line error, exit 2
        cli.build_parser().parse_args(["train", "--data", "synthetic-wearables", "--window-s", "0"])
