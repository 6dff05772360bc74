"""synthetic-wearables: E4 + Polar H10 recordings whose physiology follows self-reported arousal and valence.

The generative model, per subject (everything drawn from numpy's generator seeded with (seed, subject index), so a
subject does not depend on how many others are made):
- Affect: the session is a sequence of episodes (15-60 s, like the turns of a debate), each with a latent
  arousal and valence on the 1-5 scale (arousal ~ 2.9 + subject bias + N(0, 0.9), valence ~ 3.1 + bias +
  N(0, 0.8)) plus a slow wander within the episode. Every 5 s the subject reports round(latent + N(0,
  REPORT_NOISE)) clipped to 1-5; high = 4-5. Most reports are 2-3, so both labels are skewed towards low
  (about a quarter to a third high). Each subject has at least one high and one low episode on both scales.
- Physiology, from the latent affect A = arousal - 3 and V = valence - 3, each smoothed with its own lag:
  * EDA (4 Hz, uS): tonic level = subject baseline x (1 + gain x A smoothed over 20 s) + slow drift; phasic skin
    conductance responses arrive as a Poisson process whose rate rises exponentially with A (about 2/min at
    neutral), each a bi-exponential (rise 0.75 s, decay 2.5 s) of random amplitude [Boucsein, Electrodermal
    Activity, 2012; Benedek & Kaernbach 2010];
  * heart rate (Polar, 1 Hz, integer bpm): subject baseline + gain x A (3 s lag) - small gain x V,
    respiratory sinus arrhythmia at ~0.25 Hz and drift [Kreibig 2010's review: HR rises with arousal];
  * BVP (64 Hz): a pulse (systolic peak and dicrotic wave) at the instantaneous heart rate; its amplitude
    shrinks with arousal (sympathetic vasoconstriction) and grows a little with valence; respiration wander;
  * skin temperature (4 Hz, degC, 0.02 steps): baseline - gain x A smoothed over 90 s + 0.1 x V: peripheral
    vasoconstriction cools the wrist slowly [Kistler et al. 1998].
  Subjects differ in every baseline and gain (log-normal or uniform draws; some respond weakly).
- Nuisances: sensor noise on every channel; motion artefacts (about one a minute, 1-4 s: large BVP noise and an
  EDA contact jump); dropped samples (short gaps with no samples on the E4 channels, missing HR seconds).
The difficulty is set by REPORT_NOISE and the gains; BENCHMARKS.md records the calibration.
"""
from __future__ import annotations

import numpy as np

from compress.data.signals import NATIVE_HZ, REPORT_PERIOD_S, Recording

SYNTHETIC_WEARABLES = "synthetic-wearables"
VERSION = 1  # bump when the model changes, so old caches are not reused
SUBJECTS = 16
MINUTES = 10.0  # per subject
REPORT_NOISE = 0.7  # SD of a self-report around the latent affect, in scale points
EPISODE_S = (15.0, 60.0)
AROUSAL_MEAN, AROUSAL_SD, VALENCE_MEAN, VALENCE_SD = 2.9, 0.9, 3.1, 0.8
SCR_RATE_PER_MIN = (1.0, 3.0)  # at neutral arousal
ARTEFACTS_PER_MIN = 1.0
GAPS_PER_SUBJECT = (0, 4)  # E4 dropouts of 0.5-4 s
ACTIVITY_GAIN = 1.5  # weight of talking / moving (unrelated to the reports) in HR and EDA, relative to arousal


def fingerprint() -> dict:
    """The constants that shape the data: part of the cache key."""
    names = ("VERSION", "MINUTES", "REPORT_NOISE", "EPISODE_S", "AROUSAL_MEAN", "AROUSAL_SD", "VALENCE_MEAN",
             "VALENCE_SD", "SCR_RATE_PER_MIN", "ARTEFACTS_PER_MIN", "GAPS_PER_SUBJECT", "ACTIVITY_GAIN")
    return {n: np.asarray(globals()[n]).tolist() for n in names}


def _smooth(x: np.ndarray, tau_s: float, rate: float) -> np.ndarray:
    """First-order lag (exponential smoothing) with time constant tau_s."""
    alpha, out, acc = 1.0 - np.exp(-1.0 / (tau_s * rate)), np.empty_like(x), x[0]
    for i, v in enumerate(x):
        acc += alpha * (v - acc)
        out[i] = acc
    return out


def _affect(rng, duration_s: float, rate: float):
    """Latent arousal and valence at `rate` Hz (1-5 scale), episode by episode, both scales crossing 3.5."""
    bounds = [0.0]
    while bounds[-1] < duration_s:
        bounds.append(bounds[-1] + rng.uniform(*EPISODE_S))
    n_ep = len(bounds) - 1
    bias = rng.normal(0, 0.25, 2)
    levels = np.stack([AROUSAL_MEAN + bias[0] + rng.normal(0, AROUSAL_SD, n_ep),
                       VALENCE_MEAN + bias[1] + rng.normal(0, VALENCE_SD, n_ep)], 1)
    for k in range(2):  # at least one clearly high and one clearly low episode on each scale
        if not (levels[:, k] > 3.9).any():
            levels[rng.integers(n_ep), k] = rng.uniform(4.0, 4.6)
        if not (levels[:, k] < 3.0).any():
            levels[rng.integers(n_ep), k] = rng.uniform(2.0, 2.8)
    t = np.arange(int(duration_s * rate)) / rate
    episode = np.searchsorted(bounds, t, side="right") - 1
    wander = np.cumsum(rng.normal(0, 0.02, (len(t), 2)), 0)
    wander -= np.stack([_smooth(wander[:, k], 30.0, rate) for k in range(2)], 1)  # keep the wander local
    latent = levels[episode] + wander
    return latent[:, 0], latent[:, 1]


def _reports(rng, arousal, valence, rate: float):
    ends = np.arange(REPORT_PERIOD_S, len(arousal) / rate + 1e-9, REPORT_PERIOD_S)
    idx = np.minimum((ends * rate).astype(int) - 1, len(arousal) - 1)
    score = lambda x: np.clip(np.round(x[idx] + rng.normal(0, REPORT_NOISE, len(idx))), 1, 5)  # noqa: E731
    return ends, score(arousal), score(valence)


def _activity(rng, n: int, rate: float) -> np.ndarray:
    """Bouts of talking and moving (N(0, 1) per 10-40 s bout): they raise HR and EDA whatever the affect."""
    bounds = np.cumsum(rng.uniform(10.0, 40.0, int(n / rate / 10) + 2)) * rate
    return _smooth(rng.normal(0, 1, len(bounds) + 1)[np.searchsorted(bounds, np.arange(n))], 2.0, rate)


def _eda(rng, a, act, rate):
    base, gain = rng.lognormal(np.log(3.0), 0.6), rng.lognormal(np.log(0.2), 0.5)
    drive = _smooth(a + ACTIVITY_GAIN * act, 20.0, rate)
    tonic = base * (1 + gain * drive) + np.cumsum(rng.normal(0, 0.003 * base, len(a)))
    scr_rate = rng.uniform(*SCR_RATE_PER_MIN) / 60 * np.exp(rng.uniform(0.5, 1.2) * _smooth(a + act, 3.0, rate))
    onsets = (rng.uniform(size=len(a)) < scr_rate / rate) * rng.exponential(0.12 * base, len(a))
    k = np.arange(int(20 * rate)) / rate
    kernel = np.exp(-k / 2.5) - np.exp(-k / 0.75)
    phasic = np.convolve(onsets, kernel / kernel.max())[:len(a)]
    return np.maximum(tonic + phasic + rng.normal(0, 0.01, len(a)), 0.01)


def _heart_rate(rng, a, v, act, rate):
    t = np.arange(len(a)) / rate
    rsa = rng.uniform(1.0, 4.0) * np.sin(2 * np.pi * rng.uniform(0.2, 0.3) * t + rng.uniform(0, 6.3))
    drift = np.cumsum(rng.normal(0, 0.03, len(a)))
    return (rng.normal(72, 8) + rng.uniform(2.0, 8.0) * _smooth(a + ACTIVITY_GAIN * act, 3.0, rate)
            - rng.uniform(0.0, 2.5) * _smooth(v, 5.0, rate) + rsa + drift)


def _bvp(rng, hr4, a, v, rate4, duration_s):
    """Pulse wave at 64 Hz following the heart rate; amplitude falls with arousal, rises a little with valence."""
    fs = NATIVE_HZ["bvp"]
    t = np.arange(int(duration_s * fs)) / fs
    t4 = np.arange(len(hr4)) / rate4
    phase = np.cumsum(np.interp(t, t4, hr4) / 60 / fs) % 1.0
    pulse = np.exp(-((phase - 0.2) / 0.07) ** 2) + 0.4 * np.exp(-((phase - 0.5) / 0.09) ** 2) - 0.3
    gain = 1 - rng.uniform(0.05, 0.25) * _smooth(a, 5.0, rate4) + 0.06 * _smooth(v, 5.0, rate4)
    amp = rng.lognormal(np.log(60), 0.4) * np.interp(t, t4, np.maximum(gain, 0.2))
    wander = rng.uniform(5, 15) * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6.3))
    return t, amp * pulse + wander + rng.normal(0, 3.0, len(t))


def _artefacts(rng, signals, duration_s):
    """Motion: bursts of large BVP noise, and an EDA contact jump, about once a minute."""
    for _ in range(rng.poisson(ARTEFACTS_PER_MIN * duration_s / 60)):
        start, length = rng.uniform(0, duration_s), rng.uniform(1.0, 4.0)
        t, x = signals["bvp"]
        hit = (t >= start) & (t < start + length)
        x[hit] += rng.normal(0, rng.uniform(50, 200), hit.sum())
        t, x = signals["eda"]
        x[(t >= start) & (t < start + length)] *= rng.uniform(0.5, 1.5)


def _drop(rng, signals, duration_s):
    """Dropped samples: short gaps on the E4 channels, and about 2 % of the Polar seconds missing."""
    for _ in range(rng.integers(*GAPS_PER_SUBJECT)):
        start, length = rng.uniform(1, duration_s - 5), rng.uniform(0.5, 4.0)
        for name in ("bvp", "eda", "temp"):
            t, x = signals[name]
            keep = (t < start) | (t >= start + length)
            signals[name] = (t[keep], x[keep])
    t, x = signals["hr"]
    keep = (rng.uniform(size=len(t)) > 0.02) | (t == t[0]) | (t == t[-1])
    signals["hr"] = (t[keep], x[keep])


def subject(seed: int, index: int, minutes: float = MINUTES) -> Recording:
    """Subject `index` of the set made from `seed`: depends on (seed, index) only."""
    rng = np.random.default_rng([seed, index, 14])
    duration_s, rate4 = minutes * 60.0, NATIVE_HZ["eda"]
    arousal, valence = _affect(rng, duration_s, rate4)
    ends, rep_a, rep_v = _reports(rng, arousal, valence, rate4)
    a, v = arousal - 3.0, valence - 3.0
    t4 = np.arange(len(a)) / rate4
    act = _activity(rng, len(a), rate4)
    hr4 = _heart_rate(rng, a, v, act, rate4)
    temp = (rng.normal(33.0, 0.8) - rng.uniform(0.1, 0.4) * _smooth(a, 90.0, rate4) + 0.1 * _smooth(v, 90.0, rate4)
            + np.cumsum(rng.normal(0, 0.002, len(a))) + rng.normal(0, 0.02, len(a)))
    t1 = np.arange(int(duration_s))
    signals = {"bvp": _bvp(rng, hr4, a, v, rate4, duration_s), "eda": (t4, _eda(rng, a, act, rate4)),
               "temp": (t4, np.round(temp / 0.02) * 0.02),
               "hr": (t1.astype(float), np.round(np.interp(t1, t4, hr4) + rng.normal(0, 1.0, len(t1))))}
    _artefacts(rng, signals, duration_s)
    _drop(rng, signals, duration_s)
    return Recording(f"S{index + 1:02d}", signals, ends, rep_a.astype(np.int64), rep_v.astype(np.int64))


def generate(subjects: int = SUBJECTS, seed: int = 0, minutes: float = MINUTES) -> list[Recording]:
    return [subject(seed, i, minutes) for i in range(subjects)]
