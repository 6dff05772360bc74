"""The emulated latency model: per-op terms derived by hand at odd shapes, the fitted table, geometry, targets."""
import math

import pytest

from compress.config import Targets
from compress.devices import latency, profiles, targets as device_targets
from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.formulas import LayerCost, ModelCost

APOLLO3 = profiles.get("apollo3")


def _layer(kind, shape, macs=0, flops=0, name="x"):
    return LayerCost(name, kind, shape, macs, flops, 0, math.prod(shape), 0)


def test_conv_terms_hand_derived():
    # 5x5 conv, 7 -> 19 channels, 13x11 output: 143 positions; 143 * 19 * 25 * 7 MACs
    macs = 143 * 19 * 25 * 7
    (kind, t), = latency.op_terms(_layer("conv", (13, 11, 19), macs), (5, 1, "valid"))
    assert kind == "conv"
    assert (t["outputs"], t["pixels"], t["macs"]) == (13 * 11 * 19, 143, macs)
    assert t["columns"] == 143 * 25 * 7 and t["odd_macs"] == 143 * 25 * 7 * 3  # 19 = 4 * 4 + 3
    assert t["taps"] == 143 * 25 and t["inside_macs"] == macs  # 'valid': every tap inside
    (kind, t), = latency.op_terms(_layer("conv", (13, 11, 19), 143 * 19 * 7), (1, 1, "same"))
    assert kind == "pwconv" and t["columns"] == 143 * 7


def test_depthwise_terms_channels_past_a_multiple_of_four():
    (kind, t), = latency.op_terms(_layer("dwconv", (9, 7, 6), 63 * 6 * 25), (5, 2, "valid"))
    assert kind == "dwconv"
    assert t["padded_macs"] == 63 * 8 * 25 and t["leftover_macs"] == 63 * 2 * 25 and t["taps"] == 63 * 25
    (kind, _), = latency.op_terms(_layer("dwconv", (9, 7, 6), 63 * 6 * 9), (3, 1, "same"))
    assert kind == "dwconv3"  # CMSIS-NN's own 3x3 kernel


def test_separable_conv_is_split_into_its_two_ops():
    # 11x11 depthwise on 3 channels then pointwise to 10, 6x5 output: MACs = 30 * 3 * (121 + 10)
    (dw_kind, dw), (pw_kind, pw) = latency.op_terms(_layer("sepconv", (6, 5, 10), 30 * 3 * 131), (11, 2, "valid"))
    assert (dw_kind, pw_kind) == ("dwconv", "pwconv")
    assert dw["macs"] == 30 * 3 * 121 and dw["outputs"] == 30 * 3 and pw["macs"] == 30 * 3 * 10


def test_inside_share_of_same_padding():
    # 3x3 'same' on a 5-wide output, stride 1: rows see 2, 3, 3, 3, 2 of their 3 taps -> 13/15 per axis
    assert latency._inside((5, 5, 1), 3, 1, "same") == pytest.approx((13 / 15) ** 2)
    assert latency._inside((5, 4, 1), 3, 1, "valid") == 1.0


def test_folded_layers_cost_nothing_and_unknown_kinds_are_charged_as_elementwise():
    assert latency.op_terms(_layer("bn", (4, 4, 8))) == []
    assert latency.op_terms(_layer("zeropad", (4, 4, 8)))[0][0] == "add"


def test_table_covers_every_kind_with_both_kernel_sets_and_was_fitted_well():
    table = latency.table()
    for kernels in ("cmsis-nn", "reference"):
        entries = table["kernels"][kernels]
        assert set(latency.TERMS) <= set(entries)
        for kind, names in latency.TERMS.items():
            coefficients = entries[kind]["coefficients"]
            assert set(coefficients) == set(names) and min(coefficients.values()) >= 0
            assert entries[kind]["mean_abs_error"] < 0.10, (kernels, kind)  # on its own grid


def test_emulated_latency_is_instructions_at_the_clock_and_calibration_scales_it():
    cost = spec_cost(zoo.load_spec("embedded3"))
    instructions = latency.instructions(cost, "cmsis-nn")
    assert instructions > cost.macs  # no kernel does a MAC in under one instruction
    assert latency.latency_s(cost, APOLLO3, "emulated") == pytest.approx(instructions / 48e6)
    calibration = {"cycles_per_instruction": {"cmsis-nn": 1.5}}
    assert latency.latency_s(cost, APOLLO3, "emulated", calibration=calibration) == pytest.approx(
        1.5 * instructions / 48e6)
    assert latency.instructions(cost, "reference") > instructions


def test_spec_geometry_names_the_layers_spec_cost_names():
    spec = zoo.load_spec("alexnet")
    geometry = latency.spec_geometry(spec)
    convs = [layer for layer in spec_cost(spec).layers if layer.kind in ("conv", "maxpool")]
    assert convs and all(layer.name in geometry for layer in convs)
    assert geometry["conv1"] == (11, 2, "same")


def test_flops_bound_of_a_latency_limit():
    assert latency.flops_within(2.0, APOLLO3, "flops") == pytest.approx(0.92e6)
    bound = latency.flops_within(1.0, APOLLO3, "emulated")
    cost = spec_cost(zoo.load_spec("embedded3"))
    # any model that meets the limit has fewer FLOPs than the bound
    assert latency.latency_s(cost, APOLLO3, "emulated") * bound / 1.0 >= cost.flops


def test_latency_target_alone_and_direct_ram_flash_limits():
    cost = ModelCost("m", "spec", (), 0, 5_000_000, 0, flash_bytes=50_000, arena_bytes=20_000)
    targets = Targets(budget_flops=None, latency_s=0.5, ram_bytes=60_000, flash_bytes=200_000)
    checks = {c.name: c for c in device_targets.check(cost, APOLLO3, targets, "flops")}
    assert list(checks) == ["latency", "flash", "arena"]  # no FLOPs row
    assert checks["latency"].limit == 0.5 and not checks["latency"].passed  # 5 M FLOPs at 0.46 MFLOP/s
    assert checks["arena"].limit == 60_000 and checks["arena"].figure == 20_000 + APOLLO3.runtime_ram_bytes
    assert checks["flash"].limit == 200_000 and checks["flash"].passed


def test_calibration_cycles_per_instruction_is_checked(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text('{"cycles_per_instruction": {"cmsis-nn": 1.25}}')
    assert latency.cycles_per_instruction(APOLLO3, "cmsis-nn", latency.load_calibration(path)) == 1.25
    path.write_text('{"cycles_per_instruction": {"tvm": 1.25}}')
    with pytest.raises(Exception, match="cycles_per_instruction"):
        latency.load_calibration(path)


def test_a_latency_target_alone_bounds_the_search_space():
    """--budget-flops none: the search's FLOPs bound comes from the latency limit, and `fits` is the latency check."""
    from compress.search.space import Costing

    costing = Costing(Targets(budget_flops=None, latency_s=0.05))
    assert costing.budget_flops == pytest.approx(latency.flops_within(0.05, APOLLO3, "emulated"))
    small, large = zoo.load_spec("embedded3", (24, 24, 1), 2), zoo.load_spec("alexnet")
    assert costing.latency_s(small) < 0.05 < costing.latency_s(large)
    assert costing.fits(small) and not costing.fits(large)
    assert [c.name for c in costing.checks(small)] == ["latency", "flash", "arena"]
