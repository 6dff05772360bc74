"""Family moves: a new DS-CNN or inverted-residual trunk at each width x resolution pair that fits."""
import pytest

from compress.config import Targets
from compress.models import graph, zoo
from compress.models.families import ds_cnn, family_children, inverted_residual
from compress.search.inherit import shares_weights
from compress.search.space import Costing
from compress.search.strategies import heuristic


@pytest.fixture(scope="module")
def costing():
    return Costing(Targets(), families=True)


def test_every_family_child_fits_at_the_widest_width_and_the_largest_size_comes_first(costing):
    children = list(family_children(zoo.get("alexnet", (48, 48, 1), 2), costing.fits))
    sizes = [child.input_shape[0] for _, child in children]
    assert sizes == sorted(sizes, reverse=True) and set(sizes) == {48, 40, 32, 24}
    labels = [label for label, _ in children]
    assert "trunk \u2192 DS-CNN k3 width 14 @32\u00d732" in labels and "trunk \u2192 inverted-residual k5 width 4" in labels
    for label, child in children:
        assert costing.fits(child) and graph.is_valid(child)
        width = next(layer.units for layer in child.layers if layer.name == "stem")
        make = ds_cnn if "DS-CNN" in label else inverted_residual
        kernel = 5 if " k5 " in label else 3
        one_more = make(child.input_shape, 2, width + 1, kernel)
        assert not costing.fits(child.replace(layers=one_more.layers))  # the widest that fits


def test_the_inverted_residual_block_adds_its_input_back_where_shapes_allow():
    spec = inverted_residual((32, 32, 1), 4, 8)
    adds = [layer for layer in spec.layers if layer.kind == "add"]
    assert [a.inputs for a in adds] == [("ir2_project_bn", "ir3_project_bn")]
    assert [layer.kind for layer in spec.layers[:3]] == ["conv", "bn", "relu"] and spec.layers[0].kernel == 3


def test_sensor_windows_get_k_by_1_kernels_at_their_own_length_and_tasks_keep_one_head_each(costing):
    spec = zoo.get("multitask_cnn")
    children = list(family_children(spec, costing.fits))
    assert children and all(child.input_shape == spec.input_shape for _, child in children)
    for _, child in children:
        assert child.temporal and child.tasks == spec.tasks and set(child.heads) == {"gap"}


def test_the_search_reaches_families_as_children_and_trains_them_afresh(costing):
    base = zoo.get("alexnet", (48, 48, 1), 2)
    children = costing.children(base)
    family = [c for c in children if c.family]
    assert len(family) == 10 and all(costing.flops(c.spec) < costing.flops(base) for c in children)
    assert not any(shares_weights(c.spec, base) for c in family)  # nothing to inherit: trained from scratch
    assert all(shares_weights(c.spec, base) for c in children if not c.family)
    # the heuristic measures the node's own trunk: a family move's 170x cut does not flatten it to < 1 step
    assert heuristic(costing.space(), base) > 2
