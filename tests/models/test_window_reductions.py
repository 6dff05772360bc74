"""Sensor-window reductions: a shorter window or a lower rate, with the data re-windowed to match."""
import numpy as np
import pytest

from compress import CompressError
from compress.data.signals import rewindow
from compress.data.wearable_data import SignalDataset
from compress.models import zoo
from compress.models.reductions import reductions
from compress.models.spec import ModelSpec, SpecError


def test_a_window_spec_may_read_less_of_its_window_or_read_it_slower():
    spec = zoo.fusion_cnn()
    children = {r.label: r.spec for r in reductions(spec)}
    shorter, slower = children["window 20\u219215 samples"], children["rate 1/2 (window 20\u219210 samples)"]
    assert shorter.input_shape == (15, 1, 4) and shorter.rate_divisor == 1
    assert slower.input_shape == (10, 1, 4) and slower.rate_divisor == 2
    again = {r.label: r.spec for r in reductions(slower)}["rate 1/4 (window 10\u21925 samples)"]
    assert again.rate_divisor == 4
    assert ModelSpec.from_json(slower.to_json()) == slower and slower.key != slower.replace(rate_divisor=1).key
    assert "rate_divisor" not in spec.to_dict()  # specs at the data's rate keep their keys
    assert not any(label.startswith(("window", "rate")) for label in (r.label for r in reductions(zoo.embedded3())))


def test_images_have_no_rate():
    with pytest.raises(SpecError, match="rate_divisor is for"):
        zoo.embedded3().replace(rate_divisor=2)


def test_rewindow_keeps_the_most_recent_samples_and_averages_each_run():
    x = np.arange(2 * 8 * 2, dtype=np.float32).reshape(2, 8, 1, 2)
    shorter = rewindow(x, 6)
    np.testing.assert_array_equal(shorter, x[:, 2:])
    slower = rewindow(x, 3, divisor=2)  # the last 6 samples, pairwise means
    np.testing.assert_allclose(slower[0, :, 0, 0], [(x[0, 2, 0, 0] + x[0, 3, 0, 0]) / 2,
                                                    (x[0, 4, 0, 0] + x[0, 5, 0, 0]) / 2,
                                                    (x[0, 6, 0, 0] + x[0, 7, 0, 0]) / 2])
    with pytest.raises(CompressError, match="needs 10 samples"):
        rewindow(x, 5, divisor=2)


def test_sensor_windows_are_re_cut_for_the_model_that_reads_them():
    rng = np.random.default_rng(0)
    parts = {f"{k}_{s}": (rng.normal(size=(6, 20, 1, 4)).astype(np.float32) if k == "x" else np.arange(6) % 2)
             for s in ("train", "val", "test") for k in "xy"}
    data = SignalDataset("w", ("low", "high"), **parts, rate_hz=4.0)
    slow = data.at_input((10, 1, 4), rate_divisor=2)
    assert slow.input_shape == (10, 1, 4) and slow.rate_hz == 2.0 and slow is data.at_input((10, 1, 4), 2)
    np.testing.assert_array_equal(slow.y_val, data.y_val)
    assert data.at_input((15, 1, 4)).input_shape == (15, 1, 4)
    assert data.at_input((20, 1, 4)) is data
    with pytest.raises(CompressError, match="does not fit"):
        data.at_input((20, 1, 3))
