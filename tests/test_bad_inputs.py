"""Every bad input we know of, as one table: what the user runs, the one `error:` line they get, the exit status.

The cases come from issue 13 (142 bad-input and fault cases tried as a new user would) and the checks added for
it: options, FER CSVs, .npz files, image folders, spec files, files beside a model, class mismatches, corrupt
.tflite and Keras files, full disks, a second process on a run folder and a crash inside TFLite Micro. Each runs
through `compress.cli.main` (or, where a process boundary is the point, `python -m compress`) and must end with
exactly the expected exit status, at most one `error:` line matching the expected text, and no traceback.
"""
import errno
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from compress import CompressError, cli
from compress.models.keras_build import build_model

ROOT = Path(__file__).resolve().parents[1]
# A fixed int8 model (the committed default winner of 2026-11-23): several cases edit it at known operators and
# flip bytes at known offsets, so it must not change when the committed default is regenerated.
TFLITE = ROOT / "tests" / "fixtures" / "fer_reduced_int8.tflite"
PIXELS = " ".join(["128"] * 48 * 48)


# --- the files the cases need, made on first use -------------------------------------------------------------

def fer_rows(n: int = 30) -> list[str]:
    """n valid FER2013 rows: angry / happy alternating, 2/3 Training, then PublicTest and PrivateTest."""
    usage = lambda i: "Training" if i < 2 * n // 3 else ("PublicTest" if i < 5 * n // 6 else "PrivateTest")  # noqa
    return [f"{3 * (i % 2)},{PIXELS},{usage(i)}" for i in range(n)]


def csv_with(row: str | None = None, header: str = "emotion,pixels,Usage", encoding: str = "utf-8") -> bytes:
    """A FER CSV whose third line (row 3 for the user) is `row`."""
    rows = fer_rows()
    if row is not None:
        rows[1] = row
    return ("\n".join([header] + rows) + "\n").encode(encoding)


def npz_with(**arrays) -> bytes:
    """40 gray 16x16 images of two classes, with arrays replaced or added by keyword."""
    base = {"x": np.random.default_rng(0).integers(0, 256, (40, 16, 16), dtype=np.uint8), "y": np.arange(40) % 2}
    buffer = io.BytesIO()
    np.savez(buffer, **{**base, **arrays})
    return buffer.getvalue()


def object_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((40, 16, 16), np.uint8), y=np.array([{"label": 1}] * 40, dtype=object))
    return buffer.getvalue()


def spec_with(**layer) -> bytes:
    spec = {"name": "tiny", "input_shape": [16, 16, 1], "classes": 2,
            "layers": [{"kind": "conv", "name": "conv1", "units": 4, "kernel": 3}, {"kind": "relu", "name": "r1"},
                       {"kind": "flatten", "name": "flat"}]}
    spec["layers"][0].update(layer)
    return json.dumps(spec).encode()


def tflite_edited(edit) -> bytes:
    """The committed int8 model, read with the schema's object API, edited and packed again."""
    import flatbuffers

    from compress.models.tflite_io import parse

    model = parse(TFLITE.read_bytes())
    edit(model.subgraphs[0], model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def flipped(data: bytes, changes: dict) -> bytes:
    """Bytes changed at offsets: the fuzzed models that made TFLite Micro crash before the checks knew them."""
    out = bytearray(data)
    for at, value in changes.items():
        out[at] = value
    return bytes(out)


def huge_dimension(graph, model):
    graph.tensors[graph.operators[0].outputs[0]].shape = np.array([1, 1 << 20, 1 << 10, 7], np.int32)


def keras_zip(edit=None) -> bytes:
    """tiny.keras (Conv, MaxPool, Flatten, Dense, Softmax on 16x16x1, 2 classes), its config.json edited."""
    source = Path(os.environ["COMPRESS_TEST_TINY_KERAS"])
    if edit is None:
        return source.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(out, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            new.writestr(item, data)
    return out.getvalue()


def _layer(config, kind: str) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == kind)


def evil_module(config):
    _layer(config, "Dense")["module"] = "compress_test_evil"


def nested_compile_config(config):
    _layer(config, "Dense")["compile_config"] = {"optimizer": {"module": "compress_test_evil", "class_name": "Opt",
                                                               "config": {}, "registered_name": None}}


def evil_function(config):
    _layer(config, "Dense")["config"]["activation"] = {"module": "keras.src.utils.generic_utils",
                                                      "class_name": "function", "config": "func_load",
                                                      "registered_name": "function"}


def lambda_layer(config):
    _layer(config, "Flatten")["class_name"] = "Lambda"


def flipped_weights() -> bytes:
    data = bytearray(keras_zip())
    at = data.find(b"HDF") + 4000  # inside the stored model.weights.h5: its CRC no longer matches
    data[at:at + 4] = b"\xff\xfe\xfd\xfc"
    return bytes(data)


def folder_with_duplicate_classes(root: Path) -> None:
    from PIL import Image

    for name in ("Happy", "happy", "sad"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(root / name / f"{i}.png")


def beside(files: dict):
    """A folder holding several files: {name: bytes or a callable giving bytes}."""
    def make(root: Path) -> None:
        root.mkdir(parents=True)
        for name, data in files.items():
            (root / name).write_bytes(data() if callable(data) else data)
    return make


ASSETS = {
    "csv_bom": lambda: b"\xef\xbb\xbf" + csv_with(),
    "csv_latin1": lambda: csv_with(f"3,{PIXELS},Train\xedng", encoding="latin-1"),
    "csv_quote": lambda: csv_with(f'3,"{PIXELS},Training'),
    "csv_nan": lambda: csv_with(f"3,nan {PIXELS[4:]},Training"),
    "csv_inf": lambda: csv_with(f"3,{PIXELS[:-3]}inf,Training"),
    "csv_negative": lambda: csv_with(f"-1,{PIXELS},Training"),
    "csv_label": lambda: csv_with(f"9,{PIXELS},Training"),
    "csv_range": lambda: csv_with(f"3,300 {PIXELS[4:]},Training"),
    "csv_short": lambda: csv_with("3,1 2 3,Training"),
    "csv_text": lambda: csv_with(f"3,{PIXELS[:-3]}abc,Training"),
    "csv_usage": lambda: csv_with(f"3,{PIXELS},Later"),
    "csv_columns": lambda: csv_with(header="label,image,Usage"),
    "csv_empty": lambda: b"emotion,pixels,Usage\n",
    "npz_object": object_npz,
    "npz_onehot": lambda: npz_with(y=np.eye(2)[np.arange(40) % 2]),
    "npz_empty": lambda: npz_with(x=np.zeros((0, 16, 16), np.uint8), y=np.zeros(0, np.int64)),
    "npz_two_channels": lambda: npz_with(x=np.zeros((40, 16, 16, 2), np.uint8)),
    "npz_nan": lambda: npz_with(x=np.where(np.arange(40)[:, None, None] == 7, np.nan, 0.5) * np.ones((40, 16, 16))),
    "npz_inf": lambda: npz_with(x=np.where(np.arange(40)[:, None, None] == 3, np.inf, 0.5) * np.ones((40, 16, 16))),
    "npz_negative": lambda: npz_with(y=np.where(np.arange(40) == 5, -1, np.arange(40) % 2)),
    "npz_out_of_range": lambda: npz_with(y=np.where(np.arange(40) == 9, 5, np.arange(40) % 2),
                                         class_names=np.array(["calm", "excited"])),
    "npz_duplicate_names": lambda: npz_with(class_names=np.array(["calm", "calm"])),
    "npz_fractional_labels": lambda: npz_with(y=(np.arange(40) % 2) + 0.5),
    "npz_pixels": lambda: npz_with(x=np.full((40, 16, 16), 300, np.int32)),
    "npz_negative_pixels": lambda: npz_with(x=np.full((40, 16, 16), -0.5, np.float32)),
    "npz_split": lambda: npz_with(split=np.full(40, 7)),
    "npz_strings_x": lambda: npz_with(x=np.array(["a"] * 40)),
    "npz_lengths": lambda: npz_with(y=np.arange(39) % 2),
    "npz_missing_y": lambda: (lambda b: (np.savez(b, x=np.zeros((40, 16, 16))), b.getvalue())[1])(io.BytesIO()),
    "npz_truncated": lambda: npz_with()[:3000],
    "npz_seven_classes": lambda: npz_with(x=np.random.default_rng(1).integers(0, 256, (70, 16, 16), np.uint8),
                                          y=np.arange(70) % 7),
    "spec_units_text": lambda: spec_with(units="8"),
    "spec_units_fraction": lambda: spec_with(units=8.5),
    "spec_kernel_negative": lambda: spec_with(kernel=-3),
    "spec_stride_zero": lambda: spec_with(stride=0),
    "spec_dropout": lambda: json.dumps({**json.loads(spec_with()), "layers": json.loads(spec_with())["layers"] + [
        {"kind": "dropout", "name": "drop", "rate": 1.5}]}).encode(),
    "spec_bias_text": lambda: spec_with(bias="no"),
    "spec_unknown_field": lambda: spec_with(filters=8),
    "spec_classes_text": lambda: json.dumps({**json.loads(spec_with()), "classes": "2"}).encode(),
    "spec_shape": lambda: json.dumps({**json.loads(spec_with()), "input_shape": [16, 16]}).encode(),
    "spec_not_json": lambda: b"{layers: [",
    "tflite_random": lambda: bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8)),
    "tflite_truncated": lambda: TFLITE.read_bytes()[:9000],
    "tflite_huge_dimension": lambda: tflite_edited(huge_dimension),
    "tflite_bad_tensor_index": lambda: tflite_edited(lambda g, m: setattr(g.operators[2], "inputs",
                                                                           np.array([999], np.int32))),
    "tflite_bad_opcode": lambda: tflite_edited(lambda g, m: setattr(g.operators[1], "opcodeIndex", 77)),
    "tflite_short_weights": lambda: tflite_edited(
        lambda g, m: setattr(m.buffers[g.tensors[g.operators[1].inputs[1]].buffer], "data",
                             m.buffers[g.tensors[g.operators[1].inputs[1]].buffer].data[:-4])),
    "tflite_read_before_write": lambda: tflite_edited(lambda g, m: setattr(g.operators[0], "inputs", np.array(
        [g.operators[3].outputs[0], *g.operators[0].inputs[1:]], np.int32))),
    "tflite_quantized_dimension": lambda: flipped(TFLITE.read_bytes(), {12570: 157, 14774: 26}),
    "tflite_softmax_beta": lambda: flipped(TFLITE.read_bytes(), {8693: 33, 17603: 186}),
    "keras_evil_module": lambda: keras_zip(evil_module),
    "keras_nested_compile_config": lambda: keras_zip(nested_compile_config),
    "keras_function": lambda: keras_zip(evil_function),
    "keras_lambda": lambda: keras_zip(lambda_layer),
    "keras_checksum": flipped_weights,
    "h5_random": lambda: bytes(np.random.default_rng(4).integers(0, 256, 4000, dtype=np.uint8)),
}
FOLDERS = {
    "folder_duplicate_classes": folder_with_duplicate_classes,
    "run_clean": beside({"best.keras": keras_zip}),
    "run_bad_summary": beside({"best.keras": keras_zip, "summary.json": b'{"beta": 0.7,'}),
    "run_summary_beta": beside({"best.keras": keras_zip, "summary.json": b'{"beta": "high"}'}),
    "run_bad_config": beside({"best.keras": keras_zip, "config.json": b"{data"}),
    "run_config_type": beside({"best.keras": keras_zip, "config.json": b'{"data": {"size": "48"}}'}),
    "export_bad_test_input": beside({"model.tflite": TFLITE.read_bytes, "test_input.npz": b"PK\x03\x04garbage"}),
    "export_test_input_no_label": beside({"model.tflite": TFLITE.read_bytes,
                                          "test_input.npz": lambda: npz_with()}),
    "export_bad_report": beside({"model.tflite": TFLITE.read_bytes, "export.json": b"\xff\xfe{"}),
}


class Assets(dict):
    """Paths by name, each file or folder made the first time a case names it."""

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> str:
        suffix = {"csv": ".csv", "npz": ".npz", "spec": ".json", "tflite": ".tflite", "keras": ".keras", "h5": ".h5"}
        path = self.root / (name + suffix.get(name.split("_")[0], ""))
        if name in FOLDERS:
            path = self.root / name
            FOLDERS[name](path)
        else:
            path.write_bytes(ASSETS[name]())
        self[name] = str(path)
        return self[name]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Also saves tiny.keras once (the Keras cases and the files beside a model read it)."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(2),
                              keras.layers.Softmax()])
    root = tmp_path_factory.mktemp("bad_inputs")
    model.save(root / "tiny.keras")
    os.environ["COMPRESS_TEST_TINY_KERAS"] = str(root / "tiny.keras")
    return Assets(root)


# --- the table: (case, command line, the error line expected (None: success), exit status) ------------------------
OPTION = r"error: {}: argument {}: '{}': expected {}"
CASES = [
    # options: type, range, NaN and zero, refused at parse time with the option named
    ("max-evals 0", ["search", "--max-evals", "0"], OPTION.format("search", "--max-evals", "0", "a whole number"), 2),
    ("max-minutes 0", ["search", "--max-minutes", "0"], OPTION.format("search", "--max-minutes", "0", "a finite"), 2),
    ("batch-size 0", ["search", "--batch-size", "0"], OPTION.format("search", "--batch-size", "0", "a whole"), 2),
    ("train batch-size 0", ["train", "--batch-size", "0"], OPTION.format("train", "--batch-size", "0", "a whole"), 2),
    ("size 0", ["search", "--size", "0"], OPTION.format("search", "--size", "0", "a whole number >= 1"), 2),
    ("lr nan", ["search", "--lr", "nan"], OPTION.format("search", "--lr", "nan", "a finite number > 0"), 2),
    ("lr 0", ["search", "--lr", "0"], OPTION.format("search", "--lr", "0", "a finite number > 0"), 2),
    ("train lr inf", ["train", "--lr", "inf"], OPTION.format("train", "--lr", "inf", "a finite number > 0"), 2),
    ("baseline-lr -1", ["search", "--baseline-lr", "-1"], OPTION.format("search", "--baseline-lr", "-1", "a fin"), 2),
    ("classes ,", ["search", "--classes", ","], OPTION.format("search", "--classes", ",", "class names"), 2),
    ("classes a,,b", ["data", "inspect", "x.csv", "--classes", "a,,b"],
     OPTION.format("data inspect", "--classes", "a,,b", "class names"), 2),
    ("budget-flops nan", ["search", "--budget-flops", "nan"], OPTION.format("search", "--budget-flops", "nan", "a"), 2),
    ("budget-flops inf", ["estimate", "alexnet", "--budget-flops", "inf"],
     OPTION.format("estimate", "--budget-flops", "inf", "a finite number >= 1"), 2),
    ("budget-flops -5", ["search", "--budget-flops", "-5"], OPTION.format("search", "--budget-flops", "-5", "a"), 2),
    ("epochs 0", ["search", "--epochs", "0"], OPTION.format("search", "--epochs", "0", "a whole number >= 1"), 2),
    ("train epochs 0", ["train", "--epochs", "0"], OPTION.format("train", "--epochs", "0", "a whole number"), 2),
    ("final-epochs 0", ["search", "--final-epochs", "0"], OPTION.format("search", "--final-epochs", "0", "a whole"), 2),
    ("samples 0", ["data", "inspect", "synthetic-faces", "--samples", "0"],
     OPTION.format("data inspect", "--samples", "0", "a whole number >= 1"), 2),
    ("finalists 0", ["search", "--finalists", "0"], OPTION.format("search", "--finalists", "0", "a whole number"), 2),
    ("patience -1", ["search", "--patience", "-1"], OPTION.format("search", "--patience", "-1", "a whole number >= 0"),
     2),
    ("seed -1", ["search", "--seed", "-1"], OPTION.format("search", "--seed", "-1", "a whole number >= 0"), 2),
    ("auc-ratio 1.5", ["search", "--auc-ratio", "1.5"], OPTION.format("search", "--auc-ratio", "1.5", "a number in"),
     2),
    ("auc-ratio nan", ["search", "--auc-ratio", "nan"], OPTION.format("search", "--auc-ratio", "nan", "a number"), 2),
    ("max-latency-ms 0", ["search", "--max-latency-ms", "0"],
     OPTION.format("search", "--max-latency-ms", "0", "a finite number > 0"), 2),
    ("max-ram-kb nan", ["estimate", "alexnet", "--max-ram-kb", "nan"],
     OPTION.format("estimate", "--max-ram-kb", "nan", "a finite"), 2),
    ("estimate classes 1", ["estimate", "alexnet", "--classes", "1"],
     OPTION.format("estimate", "--classes", "1", "a whole number of classes >= 2"), 2),
    ("export beta 2", ["export", "m.keras", "--beta", "2"], OPTION.format("export", "--beta", "2", "a number in"), 2),
    ("cycles-per-instruction 0", ["emulate", "m.tflite", "--cycles-per-instruction", "0"],
     OPTION.format("emulate", "--cycles-per-instruction", "0", "a finite number > 0"), 2),
    ("size text", ["train", "--size", "big"], OPTION.format("train", "--size", "big", "a whole number"), 2),
    ("unknown option", ["estimate", "alexnet", "--colour"], r"error: unrecognized arguments: --colour", 2),

    # FER2013 CSV at load time: the file and the row named
    ("csv with a byte-order mark is accepted", ["data", "inspect", "{csv_bom}", "--out", "{out}"], None, 0),
    ("csv not UTF-8", ["data", "inspect", "{csv_latin1}"], r"csv_latin1.csv: line 3: not UTF-8 text", 2),
    ("csv unclosed quote", ["data", "inspect", "{csv_quote}"], r"csv_quote.csv: row 3: not valid CSV .*unclosed", 2),
    ("csv NaN pixel", ["data", "inspect", "{csv_nan}"], r"csv_nan.csv: row 3: NaN or infinite pixel values", 2),
    ("csv inf pixel", ["data", "inspect", "{csv_inf}"], r"csv_inf.csv: row 3: NaN or infinite pixel values", 2),
    ("csv negative label", ["data", "inspect", "{csv_negative}"], r"csv_negative.csv: row 3: emotion '-1' is not a", 2),
    ("csv label out of range", ["data", "inspect", "{csv_label}"], r"csv_label.csv: row 3: emotion '9' is not a", 2),
    ("csv pixel 300", ["data", "inspect", "{csv_range}"], r"csv_range.csv: row 3: pixel values must lie in 0..255", 2),
    ("csv 3 pixels", ["data", "inspect", "{csv_short}"], r"csv_short.csv: row 3: 3 pixel values, expected 48x48", 2),
    ("csv text pixels", ["data", "inspect", "{csv_text}"], r"csv_text.csv: row 3: pixels are not all numbers", 2),
    ("csv bad Usage", ["data", "inspect", "{csv_usage}"], r"csv_usage.csv: row 3: Usage 'later' is not", 2),
    ("csv other columns", ["data", "inspect", "{csv_columns}"], r"csv_columns.csv: not a FER2013 CSV: missing", 2),
    ("csv no rows", ["data", "inspect", "{csv_empty}"], r"csv_empty.csv: no rows", 2),

    # .npz at load time: the file and the image named
    ("npz object arrays", ["data", "inspect", "{npz_object}"], r"npz_object.npz: array 'y' holds Python objects", 2),
    ("npz one-hot labels", ["data", "inspect", "{npz_onehot}"], r"npz_onehot.npz: need one label .* one-hot", 2),
    ("npz empty arrays", ["data", "inspect", "{npz_empty}"], r"npz_empty.npz: x must be a non-empty", 2),
    ("npz two channels", ["data", "inspect", "{npz_two_channels}"], r"npz_two_channels.npz: x has 2 channels", 2),
    ("npz NaN pixels", ["data", "inspect", "{npz_nan}"], r"npz_nan.npz: image 7: NaN or infinite pixel values", 2),
    ("npz inf pixels", ["data", "inspect", "{npz_inf}"], r"npz_inf.npz: image 3: NaN or infinite pixel values", 2),
    ("npz negative label", ["data", "inspect", "{npz_negative}"], r"npz_negative.npz: image 5: label -1 is not a", 2),
    ("npz label beyond class_names", ["data", "inspect", "{npz_out_of_range}"],
     r"npz_out_of_range.npz: image 9: label 5 is not a class index 0..1", 2),
    ("npz duplicate class names", ["data", "inspect", "{npz_duplicate_names}"],
     r"npz_duplicate_names.npz: class_names must be distinct .*'calm'", 2),
    ("npz fractional labels", ["data", "inspect", "{npz_fractional_labels}"],
     r"npz_fractional_labels.npz: labels y must be whole class indices", 2),
    ("npz pixels 300", ["data", "inspect", "{npz_pixels}"], r"npz_pixels.npz: image 0: pixel values 300..300", 2),
    ("npz negative pixels", ["data", "inspect", "{npz_negative_pixels}"], r"npz_negative_pixels.npz: image 0: pix", 2),
    ("npz split 7", ["data", "inspect", "{npz_split}"], r"npz_split.npz: split values must be 0, 1, 2", 2),
    ("npz text images", ["data", "inspect", "{npz_strings_x}"], r"npz_strings_x.npz: x must be a non-empty .* <U1", 2),
    ("npz 39 labels for 40", ["data", "inspect", "{npz_lengths}"], r"npz_lengths.npz: need one label per image", 2),
    ("npz without y", ["data", "inspect", "{npz_missing_y}"], r"npz_missing_y.npz: an .npz data set needs arrays", 2),
    ("npz truncated", ["data", "inspect", "{npz_truncated}"], r"npz_truncated.npz: not a readable .npz", 2),
    ("folder Happy and happy", ["data", "inspect", "{folder_duplicate_classes}"],
     r"folder_duplicate_classes: class names repeat \(ignoring case\)", 2),

    # spec files: type and range errors, one line naming the file and the field
    ("spec units '8'", ["estimate", "{spec_units_text}"], r"spec_units_text.json: .*units must be a whole number", 2),
    ("spec units 8.5", ["estimate", "{spec_units_fraction}"], r"spec_units_fraction.json: .*units must be a whole", 2),
    ("spec kernel -3", ["estimate", "{spec_kernel_negative}"], r"spec_kernel_negative.json: .*kernel must be a who", 2),
    ("spec stride 0", ["estimate", "{spec_stride_zero}"], r"spec_stride_zero.json: .*stride must be a whole number", 2),
    ("spec dropout 1.5", ["estimate", "{spec_dropout}"], r"spec_dropout.json: .*rate must lie in \[0, 1\), not 1.5", 2),
    ("spec bias 'no'", ["estimate", "{spec_bias_text}"], r"spec_bias_text.json: .*bias must be true or false", 2),
    ("spec unknown field", ["estimate", "{spec_unknown_field}"], r"spec_unknown_field.json: .*unknown field.*filters",
     2),
    ("spec classes '2'", ["estimate", "{spec_classes_text}"], r"spec_classes_text.json: .*classes must be a whole", 2),
    ("spec 2-D input", ["estimate", "{spec_shape}"], r"spec_shape.json: .*input_shape must be \[height, width", 2),
    ("spec not JSON", ["estimate", "{spec_not_json}"], r"spec_not_json.json: not valid JSON", 2),

    # files beside the model given to export / firmware
    ("corrupt summary.json beside export's model", ["export", "{run_bad_summary}/best.keras"],
     r"run_bad_summary/summary.json: not valid JSON", 2),
    ("summary.json beta 'high'", ["export", "{run_summary_beta}/best.keras"],
     r"run_summary_beta/summary.json: 'beta' must be a number", 2),
    ("corrupt config.json beside export's model", ["export", "{run_bad_config}/best.keras"],
     r"run_bad_config/config.json: not valid JSON", 2),
    ("config.json size '48'", ["export", "{run_config_type}/best.keras"],
     r"run_config_type/config.json: data.size: expected int, not '48'", 2),
    ("export 2-class model on 7-class data", ["export", "{run_clean}/best.keras", "--data", "{npz_seven_classes}",
                                              "--size", "16"],
     r"best.keras: the model has 2 outputs but the data npz_seven_classes.npz has 7 classes", 2),
    ("corrupt test_input.npz beside firmware's model", ["firmware", "{export_bad_test_input}/model.tflite",
                                                        "--out", "{out}/sketch"],
     r"export_bad_test_input/test_input.npz: not a readable test input", 2),
    ("test_input.npz without a label", ["firmware", "{export_test_input_no_label}/model.tflite", "--out",
                                       "{out}/sketch"], r"test_input.npz: not a readable test input \(KeyError", 2),
    ("export.json not UTF-8", ["firmware", "{export_bad_report}/model.tflite", "--out", "{out}/sketch"],
     r"export_bad_report/export.json: not UTF-8 text", 2),

    # untrusted binaries: validated before anything trusts a size or an index
    ("random bytes as .tflite", ["estimate", "{tflite_random}"], r"tflite_random.tflite: not a TFLite model", 2),
    ("truncated .tflite", ["estimate", "{tflite_truncated}"],
     r"tflite_truncated.tflite: (cannot read the TFLite flatbuffer|corrupt TFLite model)", 2),
    ("a dimension of 2^20 (the 28 GiB case)", ["firmware", "{tflite_huge_dimension}", "--out", "{out}/sketch"],
     r"tflite_huge_dimension.tflite: corrupt TFLite model: tensor \d+ has shape \[1, 1048576, 1024, 7\]", 2),
    ("op reads tensor 999", ["estimate", "{tflite_bad_tensor_index}"],
     r"tflite_bad_tensor_index.tflite: corrupt TFLite model: op 2 names an operator or tensor", 2),
    ("opcode 77 of 9", ["firmware", "{tflite_bad_opcode}", "--out", "{out}/sketch"],
     r"tflite_bad_opcode.tflite: corrupt TFLite model: op 1 names an operator", 2),
    ("weights 4 bytes short", ["estimate", "{tflite_short_weights}"],
     r"tflite_short_weights.tflite: corrupt TFLite model: tensor \d+ of shape .* has \d+ bytes", 2),
    ("op reads a tensor before it is written", ["firmware", "{tflite_read_before_write}", "--out", "{out}/sketch"],
     r"tflite_read_before_write.tflite: corrupt TFLite model: op 0 reads a tensor no earlier op writes", 2),
    ("quantized dimension 10289155 (crashed TFLM)", ["estimate", "{tflite_quantized_dimension}"],
     r"tflite_quantized_dimension.tflite: corrupt TFLite model: tensor 5 has impossible quantization", 2),
    ("softmax beta 0 (aborted TFLM)", ["firmware", "{tflite_softmax_beta}", "--out", "{out}/sketch"],
     r"tflite_softmax_beta.tflite: corrupt TFLite model: op 9 \(SOFTMAX\) has an impossible option value", 2),
    (".keras naming module compress_test_evil", ["estimate", "{keras_evil_module}"],
     r"keras_evil_module.keras: refused: its config names module 'compress_test_evil'", 2),
    (".keras with a nested compile_config", ["estimate", "{keras_nested_compile_config}"],
     r"keras_nested_compile_config.keras: refused: its config names module 'compress_test_evil'", 2),
    (".keras naming function func_load", ["estimate", "{keras_function}"],
     r"keras_function.keras: refused: its config names function 'func_load'", 2),
    (".keras with a Lambda layer", ["estimate", "{keras_lambda}"], r"refused: its config names class 'Lambda'", 2),
    (".keras with corrupt weights", ["estimate", "{keras_checksum}"],
     r"keras_checksum.keras: corrupt .keras zip: model.weights.h5 fails its checksum", 2),
    ("random bytes as .h5", ["estimate", "{h5_random}"],
     r"h5_random.h5: not a Keras model \(neither a .keras zip nor an HDF5 file\)", 2),
]


def main(argv: list[str], capsys) -> tuple[int, str]:
    """cli.main's exit status (argparse's SystemExit included) and its stderr."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def check_one_line(code: int, err: str, pattern: str | None, status: int) -> None:
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err, err
    assert code == status, f"exit {code}, expected {status}: {err}"
    if pattern is None:
        assert not errors, err
    else:
        assert len(errors) == 1, err
        assert re.search(pattern, errors[0]), f"{errors[0]!r} does not match {pattern!r}"


@pytest.mark.parametrize("case, argv, pattern, status", CASES, ids=[c[0] for c in CASES])
def test_bad_input_ends_with_one_line(case, argv, pattern, status, assets, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))  # where compress_test_evil would be imported from
    (tmp_path / "compress_test_evil.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n")
    assets["out"] = str(tmp_path)
    code, err = main([a.format_map(assets) for a in argv], capsys)
    check_one_line(code, err, pattern, status)
    assert not (tmp_path / "imported").exists(), "a module named by a Keras config was imported"


# --- faults that are not a command line: a full disk, a second process, a crash inside a child -------------------

class _FullDisk:
    """A file whose writes fill the disk: half the bytes land, then ENOSPC (as a real full disk does)."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        self.f.write(data[:len(data) // 2])
        self.f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fileno(self):
        return self.f.fileno()


def test_full_disk_writing_an_output_is_one_line_and_leaves_nothing(assets, tmp_path, capsys, monkeypatch):
    import compress.files

    monkeypatch.setattr(compress.files, "open", lambda path, mode="r": _FullDisk(open(path, mode)), raising=False)
    out = tmp_path / "sheets"
    code, err = main(["data", "inspect", assets["npz_seven_classes"], "--out", str(out)], capsys)
    check_one_line(code, err, r"npz_seven_classes_samples.png: no space left on the device; nothing was written", 2)
    assert list(out.iterdir()) == []  # neither the half-written temporary file nor a truncated sheet


def test_full_disk_appending_to_the_journal_keeps_every_earlier_row(tmp_path, monkeypatch):
    from compress.models import zoo
    from compress.search.journal import Journal

    journal = Journal(tmp_path / "journal.jsonl", log=lambda message: None)
    row = {"key": "k", "parent": None, "reduction": "baseline", "depth": 0, "flops": 1.0, "fits": True,
           "spec": zoo.embedded3((16, 16, 1), 2).to_dict(), "val": {"auc": 0.9}}
    journal.append({**row, "key": "first"})
    journal.append({**row, "key": "second"})
    before = journal.path.read_bytes()
    real_write, writes = os.write, []

    def full_disk(fd, data):  # the first write lands half the line, the next one finds the disk full
        if writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        writes.append(data)
        return real_write(fd, data[:len(data) // 2])

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(CompressError, match=r"journal.jsonl: no space left on the device; the journal keeps every"):
        journal.append({**row, "key": "third"})
    monkeypatch.undo()
    assert journal.path.read_bytes() == before  # no half line
    assert [r["key"] for r in journal.replay()] == ["first", "second"]


def test_full_scratch_space_refuses_a_model_save_before_h5py_starts(tmp_path, monkeypatch):
    import compress.files
    from compress.models import zoo
    from compress.search.train import save_model

    model = build_model(zoo.embedded3((24, 24, 1), 2), seed=0)
    monkeypatch.setattr(compress.files.shutil, "disk_usage", lambda path: SimpleNamespace(free=0))
    with pytest.raises(CompressError, match=r"m.weights.h5: no space left for its temporary copy"):
        save_model(model, tmp_path / "m.weights.h5", weights_only=True)
    assert list(tmp_path.iterdir()) == []


def test_a_second_search_on_the_same_folder_is_refused_with_the_holders_pid(tmp_path):
    from compress.search.lock import RunLock

    with RunLock(tmp_path / "run"):
        proc = subprocess.run([sys.executable, "-m", "compress", "search", "--out", str(tmp_path / "run"),
                               "--no-export"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    check_one_line(proc.returncode, proc.stderr,
                   rf"run: in use by another compress process \(pid {os.getpid()}\); wait for it", 2)
    with RunLock(tmp_path / "run"):  # released: the next one may start
        pass


def test_a_crash_in_a_child_parser_is_one_line_naming_the_file():
    """A child that dies of SIGSEGV (reading address 0, as a corrupt flatbuffer makes TFLM do)."""
    from compress.models import isolated

    with pytest.raises(CompressError) as caught:
        isolated.call("ctypes:string_at", (0,), where="model.tflite", what="TFLite Micro")
    assert str(caught.value) == ("model.tflite: TFLite Micro crashed reading this file (signal 11, SIGSEGV); is it "
                                 "a valid int8 model?")


@pytest.mark.parametrize("command", ["firmware", "estimate"])
def test_a_crash_of_tflite_micro_is_one_line_when_the_checks_miss_a_corruption(command, assets, tmp_path, capsys,
                                                                                 monkeypatch):
    """With the Python checks switched off (a corruption they do not know yet), the model reaches TFLite Micro,
    which dies of SIGSEGV: in a child process, so the command still ends with one line and exit 2."""
    import compress.models.tflite_io

    monkeypatch.setattr(compress.models.tflite_io, "_check_graph", lambda model, graph, where: None)
    argv = [command, assets["tflite_quantized_dimension"]] + (["--out", str(tmp_path / "s")] if command == "firmware"
                                                              else [])
    code, err = main(argv, capsys)
    check_one_line(code, err, r"tflite_quantized_dimension.tflite: TFLite Micro crashed reading this file "
                              r"\(signal 11, SIGSEGV\); is it a valid int8 model\?", 2)


def test_a_model_that_crashes_tflite_micro_is_refused_before_and_contained_if_run():
    """Two bytes changed in the committed model make TFLite Micro die of SIGSEGV (found by fuzzing): the Python
    checks refuse the file before TFLM sees it, and TFLM run on it anyway crashes a child, not this process."""
    import numpy as np

    from compress.deploy import tflm
    from compress.models.tflite_io import parse

    data = bytearray(TFLITE.read_bytes())
    data[8948], data[9032] = 97, 106
    with pytest.raises(CompressError, match=r"model.tflite: corrupt TFLite model: op \d"):
        parse(bytes(data), "model.tflite")
    crashed = r"model.tflite: TFLite Micro crashed reading this file \(signal 11, SIGSEGV\); is it a valid int8"
    with pytest.raises(CompressError, match=crashed):
        tflm.run_tflm(bytes(data), np.zeros((1, 48, 48, 1), np.int8), where="model.tflite")
    with pytest.raises(CompressError, match=crashed):
        tflm.measure_arena_bytes(bytes(data), where="model.tflite")


def test_the_table_covers_every_kind_of_failure():
    """At least the issue's classes: options, CSV, npz, specs, files beside models, class mismatch, binaries."""
    assert len(CASES) >= 90
    kinds = {"argument --", ".csv:", ".npz:", ".json:", "summary.json", "test_input.npz", "has 7 classes",
             ".tflite:", ".keras:", "byte-order"}
    text = " ".join(f"{c[0]} {c[2]}" for c in CASES)
    assert all(k in text for k in kinds), [k for k in kinds if k not in text]
