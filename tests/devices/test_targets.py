"""The arena target's estimate against the arena the tflite-micro runtime really needs, on a sample of candidates."""
from pathlib import Path

import numpy as np
import pytest

from compress.deploy.export import convert_int8
from compress.deploy.tflm import measure_arena_bytes
from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.keras_build import build_model
from compress.models.reductions import reductions
from compress.models.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[2]


def _candidates():
    """A chain, the committed winner (separable convs), a residual graph, and two reductions of alexnet."""
    alexnet = zoo.load_spec("alexnet", (32, 32, 1), 2)
    first = reductions(alexnet)[0].spec
    return [zoo.load_spec("embedded3", (32, 32, 1), 2),
            ModelSpec.from_json((ROOT / "models" / "best_spec.json").read_text()),
            zoo.load_spec("resnet_like", (24, 24, 3), 4), first, reductions(first)[-1].spec]


@pytest.mark.parametrize("index", range(5))
def test_arena_estimate_is_within_10_percent_of_tflite_micro(index):
    spec = _candidates()[index]
    calibration = np.random.default_rng(0).uniform(0, 1, (8, *spec.input_shape)).astype(np.float32)
    measured = measure_arena_bytes(convert_int8(build_model(spec, seed=0), calibration))
    estimated = spec_cost(spec).arena_bytes
    assert abs(estimated / measured - 1) <= 0.10, (spec.name, estimated, measured)
