"""Widening moves: each gives back part of a reduction, with more FLOPs, and never goes past the baseline."""
import functools
from dataclasses import replace

from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.graph import is_valid
from compress.models.spec import Layer
from compress.models.widening import widenings


@functools.lru_cache(maxsize=None)
def flops(spec):
    return spec_cost(spec).flops


def reduced(base):
    """alexnet with conv3 thinned twice, conv1's kernel 11->7, a pool after conv4, a 40x40 input."""
    changes = {"conv3": {"units": 38}, "conv1": {"kernel": 7}}
    layers = [replace(layer, **changes.get(layer.name, {})) for layer in base.layers]
    at = [layer.name for layer in layers].index("relu4") + 1
    layers.insert(at, Layer("maxpool", "conv4_pool", kernel=2, stride=2, padding="valid"))
    return base.replace(layers=tuple(layers), input_shape=(40, 40, 1))


def test_widenings_undo_reductions_one_step_at_a_time():
    base = zoo.alexnet()
    spec = reduced(base)
    assert is_valid(spec)
    labels = [label for label, _ in widenings(spec, base, flops)]
    assert "conv3 filters 38\u219276" in labels  # doubled, not past 152
    assert "conv1 kernel 7\u219211" in labels
    assert "drop conv4_pool" in labels and "input 40\u219248" in labels
    for label, child in widenings(spec, base, flops):
        assert flops(child) > flops(spec) and is_valid(child), label
        widths = {layer.name: layer.units for layer in child.layers}
        assert all(widths[layer.name] <= layer.units for layer in base.layers if layer.name in widths)


def test_the_baseline_itself_has_no_widening():
    assert widenings(zoo.alexnet(), zoo.alexnet(), flops) == []


def test_a_raised_stride_goes_back_to_the_baselines():
    base = zoo.embedded3()
    spec = base.replace(layers=tuple(replace(l, stride=2) if l.name == "conv2" else l for l in base.layers))
    assert [label for label, _ in widenings(spec, base, flops)] == ["conv2 stride 2\u21921"]
