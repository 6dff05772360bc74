"""The quality floor is measured above chance, as the cs231n study's (seed 001's) table measures it."""
import pytest

from compress import quality
from compress.report.tables import model_rows
from compress.summary import ModelEntry

# The study's ΔAUC column against its baseline at 0.70: a raw ratio would give -5.7 % and -11.4 %.
SEED_ROWS = [(0.70, 0.0), (0.66, -0.20), (0.62, -0.40)]


@pytest.mark.parametrize("auc, expected", SEED_ROWS)
def test_delta_reproduces_the_seeds_column(auc, expected):
    assert quality.delta(auc, 0.70) == pytest.approx(expected)


def test_the_results_table_prints_the_seeds_percentages():
    base = {"val": 0.70, "test": 0.70}
    metrics = {"auc": 0.66, "accuracy": 0.6, "precision": 0.6, "recall": 0.6}
    entry = ModelEntry(key="k", flops=1e5, macs=0, params=0, flash_bytes=0, arena_bytes=0, latency_s=None,
                       val=metrics, test={**metrics, "auc": 0.62})
    rows = model_rows("final", entry, base)
    assert [row[3] for row in rows] == ["-20.0%", "-40.0%"]


def test_the_floor_never_falls_below_chance():
    assert quality.floor(0.554, 0.8) == pytest.approx(0.5432)  # raw 0.8 x 0.554 = 0.443 kept coin-flips
    assert quality.floor(0.90, 0.8) == pytest.approx(0.82)
    for reference in (0.51, 0.6, 0.75, 1.0):
        for ratio in (0.1, 0.5, 0.8, 1.0):
            beta = quality.floor(reference, ratio)
            assert 0.5 < beta <= reference
            assert quality.share(beta, reference) == pytest.approx(ratio)  # share >= ratio <=> auc >= beta
