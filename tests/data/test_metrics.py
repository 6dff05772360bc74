"""AUC intervals (compress.data.metrics): the bootstrap's AUC is sklearn's on every resample, its interval covers the
true AUC about 95 % of the time, narrows as 1/sqrt(n) and is the same every time for the same scores."""
import numpy as np
from sklearn.metrics import roc_auc_score

from compress.data.metrics import _stratified_counts, _weighted_auc, auc_interval, classification_metrics


def _scores(n: int, rng, shift: float = 1.0):
    """Binary labels and two-column probabilities: positives' logits shifted by `shift` (true AUC Phi(shift/sqrt2))."""
    y = rng.integers(0, 2, n)
    logit = rng.normal(size=n) + shift * y
    p = 1 / (1 + np.exp(-logit))
    return y, np.stack([1 - p, p], axis=1)


def test_each_resample_auc_is_sklearns_on_that_resample_ties_included():
    rng = np.random.default_rng(3)
    y, scores = rng.integers(0, 2, 60), rng.integers(0, 6, 60).astype(float)  # many ties
    counts = _stratified_counts(y, 5, rng)
    found = _weighted_auc(y == 1, scores, counts)
    for row, auc in zip(counts, found):
        drawn = np.repeat(np.arange(60), row)
        assert abs(auc - roc_auc_score(y[drawn], scores[drawn])) < 1e-12
    assert (counts[:, y == 1].sum(axis=1) == (y == 1).sum()).all()  # stratified: each class keeps its count


def test_interval_brackets_the_auc_and_is_reproducible():
    y, probs = _scores(300, np.random.default_rng(0))
    auc = roc_auc_score(y, probs[:, 1])
    low, high = auc_interval(y, probs)
    assert low < auc < high and 0.03 < high - low < 0.2
    assert auc_interval(y, probs) == [low, high]  # seed fixed
    assert classification_metrics(y, probs)["auc_ci"] == [low, high]


def test_interval_narrows_as_one_over_root_n():
    rng = np.random.default_rng(1)
    small, large = (auc_interval(*_scores(n, rng)) for n in (100, 1600))
    ratio = (small[1] - small[0]) / (large[1] - large[0])
    assert 2.8 < ratio < 5.5  # sqrt(1600 / 100) = 4


def test_interval_covers_the_true_auc_about_95_percent_of_the_time():
    from scipy.stats import norm

    rng, shift = np.random.default_rng(2), 1.0
    true_auc = norm.cdf(shift / np.sqrt(2))  # P(logit+ > logit-) for unit normals shifted by `shift`
    hits = []
    for _ in range(150):
        low, high = auc_interval(*_scores(200, rng, shift), resamples=400)
        hits.append(low <= true_auc <= high)
    assert 0.88 <= np.mean(hits) <= 0.99


def test_multiclass_interval_is_of_the_macro_one_vs_rest_auc():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 400)
    probs = rng.dirichlet(np.ones(3), 400)
    probs[np.arange(400), y] += 0.4
    found = classification_metrics(y, probs / probs.sum(1, keepdims=True), positive=None)
    low, high = found["auc_ci"]
    assert low < found["auc"] < high


def test_a_perfect_ranking_has_a_point_interval_at_one():
    y = np.array([0] * 30 + [1] * 30)
    probs = np.stack([1 - y * 0.9, y * 0.9 + 0.05], axis=1)
    assert auc_interval(y, probs) == [1.0, 1.0]
