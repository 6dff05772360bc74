"""synthetic-multitask: a DEAP-like study, 8 sensors at 250 Hz, whose physiology follows three self-ratings.

The generative model, per subject (numpy's generator seeded with (seed, subject index): a subject does not depend
on how many others are made):
- Affect: the session is a sequence of episodes (EPISODE_S, like the clips of a DEAP session), each with latent
  arousal, dominance and valence on the 1-9 scale, drawn jointly (CORR: arousal-dominance 0.6, arousal-valence
  0.2, dominance-valence 0.25; the ratings, noisier, correlate about 0.41, 0.10 and 0.22) plus a small wander
  within the episode. At the end of each episode the subject rates it: latent + a rater bias of the subject
  (RATER_BIAS) + N(0, RATING_NOISE), clipped to 1-9, one decimal. Every sample of the episode carries its rating.
  The means sit below the HIGH_FROM thresholds, so every task is skewed towards low (default set: 30 % of the
  samples high on arousal, 36 % dominance, 29 % valence), and each subject has a high and a low episode per task.
- Physiology, from the latent drives A, D, V = (latent - 5) / 2 x CUE_GAIN (about -1..1), each smoothed by a
  causal moving average of its own lag. The pipeline resamples every channel to 4 Hz with a rolling mean, so a
  cue carried only at high frequency is lost there; every task's cues below are levels, slow drifts, envelopes
  with a slow component, or events lasting a second or more, which survive a 4 Hz rolling mean:
  * eeg (uV): 1/f background; a 10 Hz alpha rhythm whose amplitude falls with A (a 0.25-s mean keeps about 13 % of it,
    aliased: not a cue a 4 Hz model can rely on); a slow frontal potential (< 0.5 Hz) that rises with
    V (standing in for the approach-related frontal asymmetry, which one channel at 4 Hz could not show);
  * eog (uV): blinks (about 0.3 s) as a Poisson process whose rate rises with A and falls with V; slow drift;
  * gsr (uS): tonic level x (1 + gain x A over 10 s) and skin-conductance responses (rise 0.75 s, decay 2.5 s)
    whose rate rises with A [Boucsein 2012]; both also rise with activity bouts unrelated to the ratings;
  * temp (degC, 0.01 steps): rises slowly with V (20 s) and falls with A (30 s) [Kistler et al. 1998];
  * ppg (IR response, a.u.): pulse at the heart rate (about 1.2 Hz: survives 4 Hz) whose amplitude falls with A
    (vasoconstriction); respiratory baseline wander;
  * emg (uV): the raw signal is a noise carrier (averaged away at 4 Hz) whose envelope, muscle tension, rises
    with D (an upright, tense posture); the DC-coupled front end adds an offset that follows the same envelope,
    so the tension reaches a 4 Hz model as a level; movement bursts of 1-3 s;
  * resp (a.u., belt): breathing at 12-18 /min, faster with A, deeper with D and a little shallower with A;
    sighs (4 s);
  * ecg (mV): PQRST beats at the heart rate, which rises with A (3 s) and falls a little with V [Kreibig 2010];
    the QRS is narrow, so at 4 Hz the beats remain as small bumps only; respiratory baseline wander.
  So arousal is carried by gsr (main), resp, ppg, eog and ecg; dominance by emg (main) and resp depth (and by its
  correlation with arousal); valence by eeg (main), temp and eog.
- Nuisances: subjects differ in every baseline and gain (log-normal or uniform draws; some respond weakly);
  activity bouts (10-40 s) raise gsr, heart rate, emg and breathing whatever the ratings; motion artefacts (about
  one a minute, 1-4 s) on eog, emg, ppg and ecg; sensor noise on every channel; slow drifts.
The difficulty is set by RATING_NOISE, RATER_BIAS and CUE_GAIN. Calibration at 4 Hz, 5-s windows every 1 s
(scripts/calibrate_multitask.py: Conv(5,1) x2 + BN/ReLU, global average pooling, three sigmoid heads, 10 epochs,
epoch by mean val AUC): the default split (seed 0; test S07, S09, S10, S11) gives test AUC arousal 0.82,
dominance 0.82, valence 0.71, and 0.52 / 0.57 / 0.52 with shuffled training labels. Four test subjects hold about
45 episodes, so one split's AUC moves by +-0.06-0.10: over 5 subject folds the same model averages 0.77 / 0.74 /
0.78 (seed 0) and 0.76 / 0.78 / 0.75 (seed 1), shuffled 0.55 / 0.50 / 0.52. Generating the 20 default subjects
(6 min each) takes 2-3 s on one core; the cached .npz is about 63 MB.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compress import files
from compress.console import note
from compress.data import base

SYNTHETIC_MULTITASK = "synthetic-multitask"
TASKS = ("arousal", "dominance", "valence")
CHANNELS = ("eeg", "eog", "gsr", "temp", "ppg", "emg", "resp", "ecg")  # the column order of every recording
HIGH_FROM = {"arousal": 5.0, "dominance": 5.0, "valence": 5.0}  # 1-9 rating >= this is "high" (DEAP's midpoint)
FS = 250.0  # Hz, every sensor
SLOW_HZ = 10.0  # the slow components (drives, levels, conductance) are made at this rate, then interpolated

VERSION = 1  # bump when the model changes, so old caches are not reused
SUBJECTS = 20
MINUTES = 6.0  # per subject
EPISODE_S = (20.0, 40.0)
MEAN = (4.3, 4.6, 4.1)  # latent arousal, dominance, valence (1-9)
SD = (1.6, 1.5, 1.7)
CORR = ((1.0, 0.6, 0.2), (0.6, 1.0, 0.25), (0.2, 0.25, 1.0))
RATING_NOISE = 0.8  # SD of a rating around the latent affect, in scale points
RATER_BIAS = 0.4  # SD of a subject's offset on every rating of one task
CUE_GAIN = (1.0, 1.0, 1.0)  # strength of each task's physiological cues
ACTIVITY_GAIN = 1.0  # weight of activity (unrelated to the ratings) in gsr, heart rate, emg and breathing
ARTEFACTS_PER_MIN = 1.0


@dataclass
class Session:
    """One subject's recording, every sensor on one clock (a study's CSV file, or the generator)."""
    subject: str
    times: np.ndarray  # seconds from the first sample, increasing, (n,)
    signals: np.ndarray  # (n, C) float32, columns in channel order
    labels: dict  # task -> (n,) float: 1-9 ratings, or 0/1 where the study gives binary labels
    source: str = SYNTHETIC_MULTITASK  # what error messages name: the CSV file, or the generator


def fingerprint() -> dict:
    """The constants that shape the data: part of the cache key."""
    names = ("VERSION", "FS", "SLOW_HZ", "EPISODE_S", "MEAN", "SD", "CORR", "RATING_NOISE", "RATER_BIAS", "CUE_GAIN",
             "ACTIVITY_GAIN", "ARTEFACTS_PER_MIN", "CHANNELS", "HIGH_FROM")
    return {n: np.asarray(list(v.values()) if isinstance(v := globals()[n], dict) else v).tolist() for n in names}


def _lag(x: np.ndarray, seconds: float) -> np.ndarray:
    """Causal moving average over the last `seconds` (slow grid): how a body follows a change, with a lag."""
    k = max(1, round(seconds * SLOW_HZ))
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(i - k, 0)
    return (c[i] - c[lo]) / (i - lo)


def _up(x: np.ndarray, n: int) -> np.ndarray:
    """A slow-grid signal at FS."""
    return np.interp(np.arange(n) / FS, np.arange(len(x)) / SLOW_HZ, x)


def _pink(rng, n: int, rate: float, flat_below_hz: float) -> np.ndarray:
    """1/f noise of unit SD (flat below flat_below_hz, so it holds no large slow swings)."""
    f = np.fft.rfftfreq(n, 1.0 / rate)
    x = np.fft.irfft(np.fft.rfft(rng.normal(size=n)) / np.sqrt(np.maximum(f, flat_below_hz)), n)
    return x / x.std()


def _drift(rng, ns: int, sd: float) -> np.ndarray:
    """A slow wander of SD `sd` (slow grid): electrode, posture and thermal drifts; bounded, unlike a random walk."""
    return sd * _pink(rng, ns, SLOW_HZ, 0.005)


def _events(rng, per_s: np.ndarray, rate: float, kernel: np.ndarray, size) -> np.ndarray:
    """A Poisson train of events (rate per second, per sample) of random size, each shaped by kernel."""
    onsets = (rng.uniform(size=len(per_s)) < per_s / rate) * size(len(per_s))
    return np.convolve(onsets, kernel)[:len(per_s)]


def _affect(rng, duration_s: float):
    """Episode bounds (s), latent affect and ratings per episode (E, 3); both classes of every task present."""
    bounds = [0.0]
    while bounds[-1] < duration_s:
        bounds.append(bounds[-1] + rng.uniform(*EPISODE_S))
    n_ep = len(bounds) - 1
    latent = np.asarray(MEAN) + np.asarray(SD) * (rng.normal(size=(n_ep, 3)) @ np.linalg.cholesky(CORR).T)
    bias = rng.normal(0, RATER_BIAS, 3)
    ratings = latent + bias + rng.normal(0, RATING_NOISE, (n_ep, 3))
    for k, task in enumerate(TASKS):  # a subject with one class on a task would have an undefined AUC
        high = HIGH_FROM[task]
        if not (ratings[:, k] >= high + 0.5).any():
            e = int(np.argmax(ratings[:, k]))
            ratings[e, k] = high + rng.uniform(0.5, 2.0)
            latent[e, k] = ratings[e, k] - bias[k]
        if not (ratings[:, k] < high - 0.5).any():
            e = int(np.argmin(ratings[:, k]))
            ratings[e, k] = high - rng.uniform(0.5, 2.0)
            latent[e, k] = ratings[e, k] - bias[k]
    return np.asarray(bounds), latent, np.clip(np.round(ratings, 1), 1.0, 9.0)


def _activity(rng, ns: int) -> np.ndarray:
    """Bouts of moving and talking (N(0, 1) per 10-40 s bout), slow grid."""
    ends = np.cumsum(rng.uniform(10.0, 40.0, int(ns / SLOW_HZ / 10) + 2)) * SLOW_HZ
    return _lag(rng.normal(0, 1, len(ends) + 1)[np.searchsorted(ends, np.arange(ns))], 2.0)


def _gsr(rng, a, act, n):
    base, gain = rng.lognormal(np.log(5.0), 0.5), 0.15 * rng.lognormal(0, 0.4)
    tonic = base * (1 + gain * _lag(a + ACTIVITY_GAIN * act, 10.0)) + _drift(rng, len(a), 0.05 * base)
    k = np.arange(int(20 * SLOW_HZ)) / SLOW_HZ
    kernel = np.exp(-k / 2.5) - np.exp(-k / 0.75)
    per_s = rng.uniform(1.0, 3.0) / 60 * np.exp(rng.uniform(0.5, 1.2) * _lag(a + act, 3.0))
    phasic = _events(rng, per_s, SLOW_HZ, kernel / kernel.max(), lambda m: rng.exponential(0.05 * base, m))
    return _up(tonic + phasic, n) + rng.normal(0, 0.005 * base, n)


def _breathing(rng, a, d, act, n):
    """The belt signal at FS: faster with A, deeper with D."""
    rate = rng.uniform(12, 18) * (1 + rng.uniform(0.05, 0.2) * _lag(a + 0.5 * ACTIVITY_GAIN * act, 5.0))
    depth = rng.lognormal(0, 0.3) * np.exp(rng.uniform(0.1, 0.35) * _lag(d, 5.0) - 0.1 * _lag(a, 5.0))
    phase = np.cumsum(_up(rate, n) / 60 / FS)
    k = np.arange(int(4 * SLOW_HZ)) / SLOW_HZ
    sighs = _events(rng, np.full(len(a), 1 / 90), SLOW_HZ, np.sin(np.pi * k / 4), lambda m: rng.uniform(1, 2, m))
    return _up(depth * (1 + sighs), n) * np.sin(2 * np.pi * phase) + rng.normal(0, 0.05, n)


def _beats(hr_slow, n):
    """Beat phase (0-1 within each beat) at FS, following the heart rate."""
    return np.cumsum(_up(hr_slow, n) / 60 / FS) % 1.0


def _ecg(rng, phase, breath, n):
    waves = ((0.1, 0.025, 0.15), (0.23, 0.01, -0.1), (0.25, 0.008, 1.0), (0.27, 0.01, -0.25), (0.45, 0.04, 0.3))
    beat = sum(h * np.exp(-((phase - c) / w) ** 2) for c, w, h in waves)
    return rng.lognormal(0, 0.2) * beat + 0.05 * breath + rng.normal(0, 0.02, n)


def _ppg(rng, phase, a, act, breath, n):
    amp = rng.lognormal(np.log(50), 0.4) * np.maximum(1 - rng.uniform(0.1, 0.25) * _lag(a + 0.5 * act, 5.0), 0.2)
    pulse = np.exp(-((phase - 0.35) / 0.08) ** 2) + 0.4 * np.exp(-((phase - 0.6) / 0.1) ** 2)
    return rng.normal(1000, 100) + _up(amp, n) * pulse + rng.uniform(5, 15) * breath + rng.normal(0, 2.0, n)


def _emg(rng, d, act, n):
    env = rng.lognormal(np.log(10), 0.4) * np.exp(rng.uniform(0.3, 0.6) * _lag(d, 3.0) + 0.3 * ACTIVITY_GAIN * act)
    k = np.arange(int(3 * SLOW_HZ)) / SLOW_HZ
    env = env * (1 + _events(rng, np.full(len(d), 1 / 60), SLOW_HZ, np.sin(np.pi * k / 3), lambda m: np.full(m, 2.0)))
    return rng.normal(0, 1, n) * _up(env, n) + _up(rng.uniform(0.5, 1.5) * env + _drift(rng, len(d), 2.0), n)


def _eeg(rng, a, v, n):
    alpha = rng.uniform(5, 15) * np.exp(-0.4 * _lag(a, 2.0)) * (1 + 0.3 * _pink(rng, len(a), SLOW_HZ, 0.05))
    t = np.arange(n) / FS
    slow = rng.uniform(1.5, 5.0) * _lag(v, 4.0) + _drift(rng, len(a), 3.0)
    return (rng.uniform(10, 20) * _pink(rng, n, FS, 1.0) + _up(alpha, n) * np.sin(2 * np.pi * 10.0 * t)
            + _up(slow, n))


def _eog(rng, a, v, n):
    per_s = _up(rng.uniform(10, 20) / 60 * np.exp(0.4 * _lag(a, 3.0) - 0.3 * _lag(v, 3.0)), n)
    k = np.arange(0, 0.4, 1 / FS)
    blinks = _events(rng, per_s, FS, np.exp(-((k - 0.2) / 0.06) ** 2), lambda m: rng.lognormal(np.log(150), 0.3, m))
    return blinks + _up(_drift(rng, len(a), 20.0), n) + rng.normal(0, 5, n)


def _artefacts(rng, x: dict, duration_s: float) -> None:
    """Motion: 1-4 s of large noise on the channels that pick it up, about once a minute."""
    for _ in range(rng.poisson(ARTEFACTS_PER_MIN * duration_s / 60)):
        start = int(rng.uniform(0, duration_s) * FS)
        hit = slice(start, start + int(rng.uniform(1.0, 4.0) * FS))
        for name, sd in (("eog", 80.0), ("emg", 40.0), ("ppg", 60.0), ("ecg", 0.3)):
            x[name][hit] += rng.normal(0, sd, len(x[name][hit]))


def subject(seed: int, index: int, minutes: float = MINUTES) -> Session:
    """Subject `index` of the set made from `seed`: depends on (seed, index) only."""
    rng = np.random.default_rng([seed, index, 31])
    duration_s = minutes * 60.0
    n, ns = round(duration_s * FS), round(duration_s * SLOW_HZ) + 1
    bounds, latent, ratings = _affect(rng, duration_s)
    ts = np.arange(ns) / SLOW_HZ
    drive = (latent[np.searchsorted(bounds, ts, side="right") - 1] - 5.0) / 2.0
    wander = np.stack([_pink(rng, ns, SLOW_HZ, 0.02) for _ in TASKS], 1)
    drive = (drive + 0.1 * wander) * np.asarray(CUE_GAIN)
    a, d, v = drive.T
    act = _activity(rng, ns)
    hr = rng.normal(72, 7) + rng.uniform(3, 8) * _lag(a + ACTIVITY_GAIN * act, 3.0) - rng.uniform(0, 2) * _lag(v, 5.0)
    breath = _breathing(rng, a, d, act, n)
    phase = _beats(hr + _drift(rng, ns, 2.0), n)
    x = {"eeg": _eeg(rng, a, v, n), "eog": _eog(rng, a, v, n), "gsr": _gsr(rng, a, act, n),
         "ppg": _ppg(rng, phase, a, act, breath, n), "emg": _emg(rng, d, act, n), "resp": breath,
         "ecg": _ecg(rng, phase, breath, n)}
    temp = rng.normal(33.0, 0.8) + rng.uniform(0.05, 0.25) * _lag(v, 20.0) - rng.uniform(0.05, 0.2) * _lag(a, 30.0)
    x["temp"] = np.round((_up(temp + _drift(rng, ns, 0.1), n) + rng.normal(0, 0.01, n)) / 0.01) * 0.01
    _artefacts(rng, x, duration_s)
    times = np.arange(n) / FS
    episode = np.searchsorted(bounds, times, side="right") - 1
    return Session(f"S{index + 1:02d}", times, np.stack([x[c] for c in CHANNELS], 1).astype(np.float32),
                   {task: ratings[episode, k] for k, task in enumerate(TASKS)})


def generate(subjects: int = SUBJECTS, seed: int = 0, minutes: float = MINUTES) -> list[Session]:
    """Recordings of `subjects` subjects; the first k are the same whatever `subjects` is."""
    return [subject(seed, i, minutes) for i in range(subjects)]


def cache_path(subjects: int, seed: int, cache_dir=None, minutes: float = MINUTES) -> Path:
    params = {"generator": fingerprint(), "subjects": subjects, "seed": seed, "minutes": minutes}
    return base.cache_path(SYNTHETIC_MULTITASK, params, cache_dir)


def cached(subjects: int = SUBJECTS, seed: int = 0, cache_dir=None, minutes: float = MINUTES) -> list[Session]:
    """generate(), cached as one .npz per parameter set (ratings as tenths: they have one decimal)."""
    path = cache_path(subjects, seed, cache_dir, minutes)
    if path.exists():
        with np.load(path) as f:
            return [Session(str(f[f"{i}_subject"]), np.arange(len(f[f"{i}_x"])) / FS, f[f"{i}_x"],
                            {t: f[f"{i}_{t}"] / 10.0 for t in TASKS}) for i in range(int(f["subjects"]))]
    note(f"generating {subjects} subjects' synthetic multi-task recordings of {minutes:g} minutes (first run with "
         f"these settings only; cached in {path})")
    sessions = generate(subjects, seed, minutes)
    arrays = {"subjects": np.array(len(sessions))}
    for i, s in enumerate(sessions):
        arrays |= {f"{i}_subject": np.array(s.subject), f"{i}_x": s.signals}
        arrays |= {f"{i}_{t}": np.round(s.labels[t] * 10).astype(np.uint8) for t in TASKS}
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_with(path, lambda staged: np.savez(staged, **arrays))  # all or nothing, ENOSPC as one line
    return sessions
