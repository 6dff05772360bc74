"""`python -m compress estimate MODEL`: tables, JSON, targets, and one-line errors."""
import json

import pytest

from compress.models import cost
from compress.models import zoo
from compress.cli import main
from compress.models.keras_build import build_model


def _json(capsys, *argv) -> dict:
    assert main(["estimate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_human_output_has_layers_totals_latency_and_targets(capsys):
    assert main(["estimate", "embedded3"]) == 0
    out = capsys.readouterr().out
    for text in ("conv1", "pool3", "softmax", "act bytes", "405,004", "estimated latency", "arena", "PASS"):
        assert text in out, text
    assert [line.split()[0] for line in out.splitlines() if line.split()[-1:] in (["PASS"], ["FAIL"])] == [
        "flops", "latency", "flash", "arena"]


def test_json_alexnet_fails_the_budget_but_exits_zero(capsys):
    report = _json(capsys, "alexnet", "--latency-model", "flops")
    assert 70e6 <= report["cost"]["flops"] <= 90e6
    assert report["cost"]["flops"] == cost.spec_cost(zoo.get("alexnet")).flops
    targets = {t["name"]: t for t in report["targets"]}
    assert not targets["flops"].get("passed") and targets["flops"]["margin"] < 0 and report["passed"] is False
    assert report["latency_s"] == pytest.approx(report["cost"]["flops"] / 0.46e6)
    assert [row["name"] for row in report["cost"]["layers"]][-2:] == ["head", "softmax"]


def test_zoo_options_and_spec_file(capsys, tmp_path):
    report = _json(capsys, "embedded3", "--input-shape", "29,31,3", "--classes", "3")
    assert report["cost"]["flops"] == cost.spec_cost(zoo.get("embedded3", (29, 31, 3), 3)).flops
    path = tmp_path / "spec.json"
    path.write_text(zoo.get("resnet_like").to_json())
    assert _json(capsys, str(path))["cost"]["flops"] == cost.spec_cost(zoo.get("resnet_like")).flops


def test_device_latency_model_budget_and_calibration(capsys, tmp_path):
    (tmp_path / "cal.json").write_text('{"cycles": {"reference": {"conv": 1, "dense": 1, "other": 1, "per_op": 0}}}')
    report = _json(capsys, "embedded3", "--device", "stm32f746", "--latency-model", "ops", "--kernels", "reference",
                   "--calibration", str(tmp_path / "cal.json"), "--budget-flops", "1e6")
    assert report["device"]["name"] == "stm32f746" and report["latency_model"] == "ops"
    # one cycle per MAC and per MAC-free FLOP: (198,912 MACs + 3,584 pooling + 10 softmax FLOPs) / 216 MHz
    assert report["latency_s"] == pytest.approx((198_912 + 3_584 + 10) / 216e6)
    assert report["targets"][0]["limit"] == 1e6


def test_keras_file(capsys, tmp_path):
    path = tmp_path / "e3.keras"
    build_model(zoo.get("embedded3"), seed=0).save(path)
    assert _json(capsys, str(path))["cost"]["flops"] == cost.spec_cost(zoo.get("embedded3")).flops


def test_tflite_file(capsys, tmp_path):
    import tensorflow as tf

    path = tmp_path / "e3.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(build_model(zoo.get("embedded3"), seed=0)).convert())
    assert main(["estimate", str(path)]) == 0
    assert "(file size)" in capsys.readouterr().out
    report = _json(capsys, str(path))
    assert report["source"] == "tflite" and report["cost"]["flash_bytes"] == path.stat().st_size
    assert report["cost"]["macs"] == cost.spec_cost(zoo.get("embedded3")).macs


@pytest.mark.parametrize("argv", [["missing.keras"], ["missing.tflite"], ["not_a_baseline"],
                                  ["embedded3", "--device", "esp32"], ["embedded3", "--input-shape", "48,48"],
                                  ["junk.tflite"], ["conv1d.keras"]])
def test_bad_models_exit_nonzero_with_one_line(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.tflite").write_bytes(b"\x00" * 64)
    if argv == ["conv1d.keras"]:
        import tf_keras as keras

        x = keras.Input((16, 3))
        keras.Model(x, keras.layers.Flatten()(keras.layers.Conv1D(4, 3, name="c1d")(x))).save("conv1d.keras")
    assert main(["estimate", *argv]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
