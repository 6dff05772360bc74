"""Multi-rate wearable recordings to fixed-rate windows: resampling, labels, windows and per-subject z-scores.

The steps, as K-EmoCon studies prepare E4 + Polar data:
- resample every sensor to one rate: a sensor faster than the rate is averaged over each output interval (a
  rolling mean, i.e. a low-pass filter, sampled once per interval); a slower one is linearly interpolated;
  samples missing from a recording (dropped packets) are bridged by the same interpolation;
- a self-report at `seconds = s` labels the interval [s - period, s); binary low (1-3) = 0, high (4-5) = 1;
- windows of `window_s` seconds every `hop_s` seconds lie inside one *label run*: consecutive reports of the
  same binary label on the chosen target, within one subject. So no window straddles a subject or a change of
  label, and the hop still means something when the window is as long as the report period (a strict one-report
  rule would leave exactly one window per report whatever --hop-s says);
- z-scores per subject and channel, from that subject's own resampled signal and never its labels. No statistic
  crosses subjects: the training windows are fitted on training subjects alone, and a held-out subject is scaled
  by its own recording, as a device would after an unlabelled calibration period.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from compress import CompressError
from compress.config import DataConfig

CHANNELS = ("bvp", "eda", "temp", "hr")  # the order of the channels in every window
NATIVE_HZ = {"bvp": 64.0, "eda": 4.0, "temp": 4.0, "hr": 1.0}  # E4 BVP, EDA, TEMP; Polar H10 heart rate
REPORT_PERIOD_S = 5.0  # K-EmoCon: one arousal/valence self-report every 5 s
HIGH_FROM = 4  # reports 4-5 are "high", 1-3 "low"
TARGETS = ("arousal", "valence")
MAX_WINDOW_BYTES = 4 << 30  # one subject's windows: 4 GiB at most (--window-s 3600 at --hop-s 1 would be terabytes)


@dataclass
class Recording:
    """One participant: each sensor at its own (native) rate, times in seconds from a common start."""
    subject: str
    signals: dict  # sensor name -> (times_s, values), float arrays; gaps where samples were dropped
    report_s: np.ndarray  # end of each self-report's interval, seconds from the start
    arousal: np.ndarray  # 1-5 per report
    valence: np.ndarray

    def duration_s(self) -> float:
        """The span every sensor covers."""
        return float(min(t[-1] for t, _ in self.signals.values())) if self.signals else 0.0


def resample(times: np.ndarray, values: np.ndarray, rate: float, n: int) -> np.ndarray:
    """The signal at rate Hz on the grid k / rate (k < n): mean over each interval if faster, else interpolated."""
    times, values = np.asarray(times, float), np.asarray(values, float)
    grid = np.arange(n) / rate
    if len(times) > 1 and np.median(np.diff(times)) < 1.0 / rate - 1e-9:
        bins = np.floor(times * rate + 1e-9).astype(np.int64)
        inside = (bins >= 0) & (bins < n)
        sums = np.bincount(bins[inside], values[inside], minlength=n)
        counts = np.bincount(bins[inside], minlength=n)
        full = counts > 0  # an interval with no sample at all (a dropout): interpolated from its neighbours
        times, values = grid[full], sums[full] / counts[full]
        if not full.all():
            return np.interp(grid, times, values)
        return values
    return np.interp(grid, times, values)


def sample_labels(rec: Recording, target: str, rate: float, n: int) -> np.ndarray:
    """Per output sample: 1 (high), 0 (low) or -1 (no report covers it)."""
    scores = rec.arousal if target == "arousal" else rec.valence
    t = np.arange(n) / rate
    labels = np.full(n, -1, np.int64)
    for end, score in zip(rec.report_s, scores):
        labels[(t >= end - REPORT_PERIOD_S - 1e-9) & (t < end - 1e-9)] = int(score >= HIGH_FROM)
    return labels


def window_starts(labels: np.ndarray, length: int, hop: int) -> np.ndarray:
    """First sample of every window of `length` samples, every `hop`, inside one run of equal labels (>= 0)."""
    starts, run_start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[run_start]:
            if labels[run_start] >= 0:
                starts.extend(range(run_start, i - length + 1, hop))
            run_start = i
    return np.asarray(starts, np.int64)


def check_window_memory(source: str, subject: str, n: int, length: int, hop: int, channels: int) -> None:
    """CompressError before a subject's n samples become windows of `length` every `hop` larger than
    MAX_WINDOW_BYTES (float32), naming the options that set them."""
    count = max(0, (n - length) // hop + 1)
    size = 4 * channels * max(n, count * length)
    if size > MAX_WINDOW_BYTES:
        raise CompressError(f"{source}: subject {subject}: {count} windows of {length} samples would take "
                            f"{size / 2**30:.1f} GiB (at most {MAX_WINDOW_BYTES >> 30} GiB); give a larger --hop-s, "
                            "a shorter --window-s or a lower --rate")


def zscore(x: np.ndarray) -> np.ndarray:
    """Per channel (last axis): zero mean, unit SD; a flat channel becomes zeros."""
    mean, sd = x.mean(axis=0), x.std(axis=0)
    return ((x - mean) / np.where(sd > 1e-9, sd, 1.0)).astype(np.float32)


def subject_windows(rec: Recording, config: DataConfig, source: str):
    """(windows (N, T, 1, C) float32, labels (N,)) of one subject, as config asks (target, rate_hz, window_s,
    hop_s); CompressError where the subject cannot give any. source: the data set's name, for messages."""
    target, rate, window_s, hop_s = config.target, config.rate_hz, config.window_s, config.hop_s
    length, hop = round(window_s * rate), round(hop_s * rate)
    if length < 1 or hop < 1:
        raise CompressError(f"{source}: --window-s {window_s:g} and --hop-s {hop_s:g} at --rate {rate:g} Hz must "
                            "each span at least one sample")
    n = int(np.floor(rec.duration_s() * rate + 1e-9)) + 1
    if length > n:
        raise CompressError(f"{source}: --window-s {window_s:g} is longer than subject {rec.subject}'s recording "
                            f"({rec.duration_s():.1f} s)")
    check_window_memory(source, rec.subject, n, length, hop, len(CHANNELS))
    signal = zscore(np.stack([resample(*rec.signals[c], rate, n) for c in CHANNELS], axis=1))
    per_sample = sample_labels(rec, target, rate, n)
    starts = window_starts(per_sample, length, hop)
    labels = per_sample[starts]
    if len(np.unique(labels)) < 2:
        only = "no" if not len(labels) else ("only high" if labels[0] else "only low")
        raise CompressError(f"{source}: subject {rec.subject} has {only} {target} windows: its AUC is undefined "
                            "(leave the subject out or choose another --target)")
    windows = signal[starts[:, None] + np.arange(length)[None, :]]
    return windows[:, :, None, :], labels


def rewindow(windows: np.ndarray, length: int, divisor: int = 1) -> np.ndarray:
    """Windows (N, T, 1, C) as a model reading `length` samples at 1/divisor of their rate needs them: the most
    recent length x divisor samples, each run of `divisor` averaged (the rolling mean `resample` down-samples with)."""
    span = length * divisor
    if not 1 <= span <= windows.shape[1]:
        raise CompressError(f"a window of {length} samples at 1/{divisor} of the rate needs {span} samples; the "
                            f"data's windows have {windows.shape[1]}")
    recent = windows[:, windows.shape[1] - span:]
    n, _, _, c = recent.shape
    return recent.reshape(n, length, divisor, 1, c).mean(axis=2).astype(np.float32)


def windows_at(data, input_shape, rate_divisor: int = 1):
    """Sensor windows as a model with this (T, 1, C) input at 1/rate_divisor of the data's rate needs them
    (signals.rewindow: a shorter window keeps the most recent samples); memoised like Dataset.resized."""
    shape = tuple(int(d) for d in input_shape)
    if shape == data.input_shape and rate_divisor == 1:
        return data
    if shape[1:] != data.input_shape[1:] or shape[0] * rate_divisor > data.input_shape[0]:
        raise CompressError(f"model input {shape}{f' at 1/{rate_divisor} of the rate' * (rate_divisor > 1)} does "
                            f"not fit the {data.name} windows {data.input_shape} (T samples x 1 x channels)")
    key = (shape[0], rate_divisor)
    if key not in data._resized:
        xs = {f"x_{s}": rewindow(data.split(s)[0], shape[0], rate_divisor) for s in ("train", "val", "test")}
        data._resized[key] = dataclasses.replace(data, **xs, rate_hz=data.rate_hz / rate_divisor, _resized={})
    return data._resized[key]
