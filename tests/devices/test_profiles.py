"""devices.py: seed 001's Apollo3 figure, both latency models, and target checks with their margins."""
import json

import pytest

from compress import CompressError
from compress.config import Targets
from compress.devices import latency
from compress.devices import profiles
from compress.devices import targets as device_targets
from compress.models.formulas import LayerCost, ModelCost

APOLLO3 = profiles.get("apollo3")


def _cost(flops=0, flash_bytes=0, arena_bytes=0, layers=()) -> ModelCost:
    return ModelCost("fake", "spec", tuple(layers), sum(l.macs for l in layers), flops, 0, flash_bytes, arena_bytes)


def _layer(kind, macs=0, flops=0) -> LayerCost:
    return LayerCost(kind, kind, (1,), macs, flops, 0, 1, 0)


def test_seed_001_reproduced():
    # seed 001: 82.7 M FLOPs took 3 min 1 s on Apollo3 with the reference kernels
    assert latency.latency_s(_cost(flops=82.7e6), APOLLO3, "flops") == pytest.approx(180, abs=2)


def test_apollo3_limits_are_the_arduino_core_limits():
    assert (APOLLO3.flash_bytes, APOLLO3.ram_bytes, APOLLO3.clock_hz) == (983_040, 393_216, 48e6)


@pytest.mark.parametrize("name", ["nano33ble", "stm32f746", "rp2040", "nrf5340", "stm32u585"])
def test_every_device_leaves_room_for_a_model(name):
    device = profiles.get(name)
    assert device.flash_bytes > device.runtime_flash_bytes and device.ram_bytes > device.runtime_ram_bytes
    assert device.flops_per_s == pytest.approx(device.clock_hz / profiles.CYCLES_PER_FLOP)


def test_unknown_device_lists_the_known_ones():
    with pytest.raises(CompressError, match="apollo3.*nano33ble.*stm32f746"):
        profiles.get("esp32")


def test_ops_model_hand_derived():
    layers = [_layer("conv", macs=1_000), _layer("bn"), _layer("relu"), _layer("maxpool", flops=50),
              _layer("dense", macs=100)]
    cost = _cost(layers=layers)
    # reference: 3 ops x 3,000 + 1,000 x 180 + 50 x 10 + 100 x 10 = 190,500 cycles; bn and relu are folded away
    assert latency.latency_s(cost, APOLLO3, "ops") == pytest.approx(190_500 / 48e6)
    # cmsis-nn: 9,000 + 1,000 x 4 + 50 x 3 + 100 x 3 = 13,450 cycles
    assert latency.latency_s(cost, APOLLO3, "ops", kernels="cmsis-nn") == pytest.approx(13_450 / 48e6)


def test_calibration_file_replaces_table_entries(tmp_path):
    path = tmp_path / "board.json"
    path.write_text(json.dumps({"cycles": {"reference": {"conv": 100, "per_op": 0}}, "flops_per_s": 1e6}))
    calibration = latency.load_calibration(path)
    cost = _cost(flops=2e6, layers=[_layer("conv", macs=1_000)])
    assert latency.latency_s(cost, APOLLO3, "ops", calibration=calibration) == pytest.approx(100_000 / 48e6)
    assert latency.latency_s(cost, APOLLO3, "flops", calibration=calibration) == pytest.approx(2.0)


@pytest.mark.parametrize("text", ['{"cycles": {"reference": {"conv2d": 3}}}', '{"cycles": {"tpu": {}}}',
                                  '{"speed": 1}', "not json"])
def test_bad_calibration_file_is_a_compress_error(tmp_path, text):
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(CompressError):
        latency.load_calibration(tmp_path / "bad.json")


def test_check_all_pass_with_margins():
    checks = {c.name: c for c in device_targets.check(_cost(flops=230e3, flash_bytes=100_000, arena_bytes=50_000), APOLLO3)}
    assert [c for c in checks] == ["flops", "latency", "flash", "arena"]
    assert all(c.passed for c in checks.values())
    assert checks["flops"].margin == pytest.approx(0.5)  # 230 k of 460 k
    assert checks["latency"].figure == pytest.approx(0.5) and checks["latency"].limit == pytest.approx(1.0)
    assert checks["flash"].figure == 100_000 + profiles.RUNTIME_FLASH_BYTES and checks["flash"].limit == 983_040
    assert checks["arena"].margin == pytest.approx((393_216 - 50_000 - profiles.RUNTIME_RAM_BYTES) / 393_216)


def test_check_failures_have_negative_margins():
    cost = _cost(flops=920e3, flash_bytes=900_000, arena_bytes=10_000)
    checks = {c.name: c for c in device_targets.check(cost, APOLLO3)}
    assert not checks["flops"].passed and checks["flops"].margin == pytest.approx(-1.0)
    assert not checks["latency"].passed and checks["latency"].figure == pytest.approx(2.0)
    assert not checks["flash"].passed and checks["flash"].margin < 0
    assert checks["arena"].passed


def test_measured_figures_override_estimates():
    cost = _cost(flops=1e5, flash_bytes=10_000, arena_bytes=10_000)
    checks = {c.name: c for c in device_targets.check(cost, APOLLO3, measured_arena_bytes=380_000,
                                               measured_model_bytes=20_000)}
    assert checks["arena"].figure == 380_000 + profiles.RUNTIME_RAM_BYTES and not checks["arena"].passed
    assert checks["flash"].figure == 20_000 + profiles.RUNTIME_FLASH_BYTES


def test_targets_latency_explicit_or_derived_from_budget():
    nano = profiles.get("nano33ble")
    assert latency.latency_limit_s(Targets(), APOLLO3) == pytest.approx(1.0)
    assert latency.latency_limit_s(Targets(budget_flops=0.92e6), APOLLO3) == pytest.approx(2.0)
    assert latency.latency_limit_s(Targets(), nano) == pytest.approx(0.46e6 / nano.flops_per_s)
    checks = device_targets.check(_cost(flops=1e6), APOLLO3, Targets(budget_flops=2e6, latency_s=3.0))
    assert [(c.limit, c.passed) for c in checks[:2]] == [(2e6, True), (3.0, True)]


def test_unknown_latency_model_or_kernels():
    with pytest.raises(CompressError):
        latency.latency_s(_cost(), APOLLO3, "magic")
    with pytest.raises(CompressError):
        latency.latency_s(_cost(), APOLLO3, "ops", kernels="tvm")


def test_every_device_has_a_firmware_board_or_says_why_not_and_others_are_refused_by_name():
    assert set(profiles.DEVICES) - set(profiles.DEVICE_BOARDS) == {"rp2040"}
    assert [profiles.board_for(d) for d in ("apollo3", "nano33ble", "stm32f746", "nrf5340")] == [
        "apollo3", "nano33ble", "generic", "generic"]
    with pytest.raises(CompressError, match="^--device rp2040: no firmware board: .*; devices with a board: apollo3, "
                                            "nano33ble, nrf5340, stm32f746, stm32u585$"):
        profiles.board_for("rp2040")
    with pytest.raises(CompressError, match="unknown device 'esp32'; known devices: apollo3, nano33ble, nrf5340, "
                                            "rp2040, stm32f746, stm32u585"):
        profiles.board_for("esp32")


def test_the_board_table_is_the_one_source_of_boards_and_their_devices():
    """profiles.BOARDS is the one board table: each board's default device is a profile that names it, and every
    device a board names is a profile."""
    assert list(profiles.BOARDS) == ["apollo3", "nano33ble", "generic"]
    for name, board in profiles.BOARDS.items():
        assert profiles.DEVICE_BOARDS[board.device] == name
        assert board.device in profiles.DEVICES and set(board.devices or ()) <= set(profiles.DEVICES)
