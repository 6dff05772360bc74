"""More bad inputs (issue 26), in the style of test_bad_inputs.py: each ends with exactly one `error:` line naming
the file (or option) and the problem, the expected exit status and no traceback.

Classes: semantically broken .tflite files, sensor files (NaN values and timestamps, absurd or non-monotonic
timestamps, encodings, NaN ratings), numbers bounded where they are used, and training that diverges to NaN.
"""
import numpy as np
import pytest

from test_bad_inputs import check_one_line, main, tflite_edited


def _zero_scale(side: str):
    def edit(graph, model):
        graph.tensors[getattr(graph, side)[0]].quantization.scale = np.array([0.0], np.float32)
    return edit


def _own_input(graph, model):
    graph.operators[1].outputs = np.array(graph.operators[1].inputs[:1], np.int32)


TFLITE = {
    "no_operators": (lambda g, m: setattr(g, "operators", []), r"the TFLite model has no operators"),
    "schema_99": (lambda g, m: setattr(m, "version", 99), r"unsupported TFLite schema version 99"),
    "input_scale_0": (_zero_scale("inputs"), r"graph input tensor \d+ has quantization scale 0"),
    "output_scale_0": (_zero_scale("outputs"), r"graph output tensor \d+ has quantization scale 0"),
    "aliased": (_own_input, r"op 1 writes its own input \(tensor \d+\): aliased tensors"),
}


@pytest.mark.parametrize("command", ["estimate", "firmware", "emulate"])
@pytest.mark.parametrize("name", sorted(TFLITE))
def test_a_semantically_broken_tflite_is_one_line(name, command, tmp_path, capsys):
    edit, pattern = TFLITE[name]
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(tflite_edited(edit))
    argv = [command, str(path)] + (["--out", str(tmp_path / "sketch")] if command == "firmware" else [])
    code, err = main(argv, capsys)
    check_one_line(code, err, rf"{name}.tflite: .*{pattern}", 2)
    assert not (tmp_path / "sketch").exists()
