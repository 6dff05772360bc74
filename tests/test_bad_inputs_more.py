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


# --- sensor files: as strict as images (a tiny K-EmoCon folder and a tiny multi-task CSV folder) ----------------

START_MS = 1_546_300_800_000  # K-EmoCon's timestamps are UNIX milliseconds


def kemocon(root, edit=None, encoding="utf-8", bom=b""):
    """Three participants of two minutes (the synthetic generator's), written as K-EmoCon CSVs; edit(name, lines)
    may change participant S02's file `name` (a list of text lines, the header first)."""
    from compress.data import wearables

    for rec in wearables.generate(3, seed=0, minutes=2):
        folder = root / rec.subject
        folder.mkdir(parents=True)
        files = {f"{c.upper()}.csv": ["timestamp,value"] + [f"{START_MS + t * 1000:.0f},{v:.6g}" for t, v in zip(*s)]
                 for c, s in rec.signals.items()}
        files["annotations.csv"] = ["seconds,arousal,valence"] + [f"{s:g},{a},{v}" for s, a, v in
                                                                 zip(rec.report_s, rec.arousal, rec.valence)]
        for name, lines in files.items():
            if edit and rec.subject == "S02":
                lines = edit(name, lines)
            (folder / name).write_bytes(bom + ("\n".join(lines) + "\n").encode(encoding))
    return root


def cell(file: str, row: int, column: int, text: str):
    """An edit: file's line `row` (1 = the header) gets `text` in `column`."""
    def edit(name, lines):
        if name != file:
            return lines
        cells = lines[row - 1].split(",")
        cells[column] = text
        return lines[:row - 1] + [",".join(cells)] + lines[row:]
    return edit


KEMOCON = {  # case -> (folder edit, error expected)
    "NaN value": (cell("EDA.csv", 5, 1, "nan"), r"S02/EDA.csv: row 5, column 'value': nan is not a finite number"),
    "inf value": (cell("BVP.csv", 9, 1, "inf"), r"S02/BVP.csv: row 9, column 'value': inf is not a finite number"),
    "NaN timestamp": (cell("HR.csv", 4, 0, "nan"), r"S02/HR.csv: row 4, column 'timestamp': nan is not a finite"),
    "timestamp 10^13 ms away": (lambda n, lines: lines[:-1] + [f"{START_MS + 10 ** 13},1"] if n == "TEMP.csv"
                                else lines, r"S02/TEMP.csv: row \d+, column 'timestamp': .* lies 1e\+10 s after the "
                                r"first timestamp; a recording may span at most 24 hours"),
    "timestamps out of order": (cell("EDA.csv", 6, 0, str(START_MS)),
                                r"S02/EDA.csv: row 6, column 'timestamp': timestamps out of order"),
    "sensors that never overlap": (lambda n, lines: [lines[0]] + [f"{START_MS + 3_600_000 + k * 1000},70" for k in
                                                                  range(60)] if n == "HR.csv" else lines,
                                   r"S02: the sensors never record at the same time"),
    "NaN rating": (cell("annotations.csv", 3, 1, "nan"), r"S02/annotations.csv: row 3, column 'arousal': nan is not"),
    "rating 2.5": (cell("annotations.csv", 4, 2, "2.5"), r"S02/annotations.csv: row 4, column 'valence': 2.5 is not "
                                                         r"a rating on the 1-5 scale"),
    "report at -5 s": (cell("annotations.csv", 2, 0, "-5"), r"S02/annotations.csv: row 2, column 'seconds': "
                                                            r"timestamps out of order"),
    "Latin-1 text": (cell("annotations.csv", 1, 2, "val\u00e8nce"), None),
}


@pytest.mark.parametrize("case", sorted(KEMOCON))
def test_a_bad_kemocon_file_is_one_line(case, tmp_path, capsys):
    edit, pattern = KEMOCON[case]
    encoding = "latin-1" if pattern is None else "utf-8"
    pattern = pattern or r"S02/annotations.csv: line 1: not UTF-8 text \(byte 0xe8; Latin-1 or another encoding\?\)"
    root = kemocon(tmp_path / "k", edit, encoding=encoding)
    code, err = main(["data", "inspect", str(root), "--out", str(tmp_path / "sheets")], capsys)
    check_one_line(code, err, pattern, 2)


def test_kemocon_files_with_a_byte_order_mark_are_read(tmp_path, capsys):
    root = kemocon(tmp_path / "k", bom=b"\xef\xbb\xbf")
    code, err = main(["data", "inspect", str(root), "--out", str(tmp_path / "sheets")], capsys)
    check_one_line(code, err, None, 0)


def multitask_folder(root, edit=None, encoding="utf-8", bom=b"", edited=(1,)):
    """Three subjects, 120 samples at 4 Hz: time, three sensors, arousal/dominance/valence ratings 1-9;
    edit(lines) changes s02.csv (the files numbered `edited` from 0)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        lines = ["time,c1,c2,c3,arousal,dominance,valence"]
        for k in range(120):
            high = 8 if (k // 30) % 2 else 2
            lines.append(f"{k / 4:g},{rng.normal():.4f},{rng.normal():.4f},{rng.normal():.4f},{high},{high},{high}")
        if edit and i in edited:
            lines = edit(lines)
        (root / f"s0{i + 1}.csv").write_bytes(bom + ("\n".join(lines) + "\n").encode(encoding))
    return root


def line(row: int, column: int, text: str):
    return lambda lines: cell("x", row, column, text)("x", lines)


MULTITASK = {  # NaN cells were refused already (not a number, by row and column)
    "timestamp 10^13 s away": (line(121, 0, "1e13"), r"s02.csv: row 121, column 'time': 10000000000000 lies 1e\+13 "
                                                      r"s after the first timestamp; a recording may span at most 24"),
    "time out of order": (line(6, 0, "0.5"), r"s02.csv: row 6, column 'time': timestamps out of order"),
    "Latin-1 text": (lambda lines: [lines[0].replace("c1", "c\u00b9")] + lines[1:],
                     r"s02.csv: line 1: not UTF-8 text \(byte 0xb9; Latin-1 or another encoding\?\)"),
}


@pytest.mark.parametrize("case", sorted(MULTITASK))
def test_a_bad_multitask_csv_is_one_line(case, tmp_path, capsys):
    edit, pattern = MULTITASK[case]
    root = multitask_folder(tmp_path / "mt", edit, encoding="latin-1" if "Latin" in case else "utf-8")
    code, err = main(["data", "inspect", str(root), "--out", str(tmp_path / "sheets")], capsys)
    check_one_line(code, err, pattern, 2)


def test_multitask_csvs_with_a_byte_order_mark_are_read(tmp_path, capsys):
    root = multitask_folder(tmp_path / "mt", bom=b"\xef\xbb\xbf")
    code, err = main(["data", "inspect", str(root), "--out", str(tmp_path / "sheets")], capsys)
    check_one_line(code, err, None, 0)


# --- numbers bounded where they are used: parse-time ranges that name the limit, the same in config.json ------

OPTION = r"error: {}: argument {}: '{}': expected {}"
NUMBERS = [  # (option, value, the range the error names); each broke later before (OverflowError, MemoryError...)
    ("--size", "100000", r"a whole number >= 1 and <= 1024 \(pixels\)"),
    ("--max-ram-kb", "1e308", r"a finite number >= 1 and <= 16777216 \(KiB\)"),
    ("--max-flash-kb", "0.0001", r"a finite number >= 1 and <= 16777216 \(KiB\)"),
    ("--budget-flops", "5e-324", r"a finite number >= 1 and <= 1e\+15 \(FLOPs\) or 'none'"),
    ("--window-s", "1e308", r"a finite number > 0 and <= 3600 \(s\)"),
    ("--hop-s", "1e9", r"a finite number > 0 and <= 3600 \(s\)"),
    ("--rate", "1e9", r"a finite number > 0 and <= 1000 \(Hz\)"),
    ("--seed", "1e20", r"a whole number >= 0 and <= 4294967295"),
    ("--seed", "4294967296", r"a whole number >= 0 and <= 4294967295"),
    ("--lr", "1e30", r"a finite number > 0 and <= 1"),
    ("--baseline-lr", "5", r"a finite number > 0 and <= 1"),
    ("--samples", "1000000000", r"a whole number >= 1 and <= 200000 \(images\)"),
    ("--subjects", "100000", r"a whole number >= 1 and <= 1000 \(subjects\)"),
    ("--max-latency-ms", "1e300", r"a finite number > 0 and <= 3600000 \(ms\)"),
    ("--epochs", "100000000", r"a whole number >= 1 and <= 10000"),
    ("--batch-size", "1000000000", r"a whole number >= 1 and <= 65536"),
    ("--classes", "0,1000000000", r"a class code in 0..999, not 1000000000"),
    ("--positive", "1000000000", r"a class code in 0..999, not 1000000000"),
]


@pytest.mark.parametrize("option, value, expected", NUMBERS, ids=[f"{o} {v}" for o, v, _ in NUMBERS])
def test_a_number_out_of_its_range_is_refused_naming_the_limit(option, value, expected, capsys):
    """Parsed only (a number the parser lets through would start a search)."""
    from compress import cli

    with pytest.raises(SystemExit) as caught:
        cli.build_parser().parse_args(["search", option, value])
    check_one_line(caught.value.code, capsys.readouterr().err, OPTION.format("search", option, value, expected), 2)


def test_estimate_with_a_billion_classes_is_refused(capsys):
    with pytest.raises(SystemExit) as caught:
        __import__("compress.cli").cli.build_parser().parse_args(["estimate", "alexnet", "--classes", "1000000000"])
    check_one_line(caught.value.code, capsys.readouterr().err, OPTION.format(
        "estimate", "--classes", "1000000000", "a whole number of classes >= 2 and <= 1000"), 2)


def test_an_npz_label_code_of_a_billion_is_one_line(tmp_path, capsys):
    """Labels without class_names are codes 0..max: a code of 10^9 asked for 10^9 class names (MemoryError)."""
    y = np.arange(40) % 2
    y[3] = 10 ** 9
    np.savez(tmp_path / "codes.npz", x=np.zeros((40, 16, 16), np.uint8), y=y)
    code, err = main(["data", "inspect", str(tmp_path / "codes.npz"), "--out", str(tmp_path)], capsys)
    check_one_line(code, err, r"codes.npz: image 3: label 1000000000 is not a class code 0..999 \(give class_names", 2)


def test_numbers_in_range_still_parse(capsys):
    from compress import cli, options

    args = cli.build_parser().parse_args(["search", "--size", "1024", "--seed", "4294967295", "--lr", "1",
                                          "--max-ram-kb", "1", "--budget-flops", "1e15", "--classes", "0,999"])
    config = options.run_config(args)
    assert (config.data.size, config.data.seed, config.train.lr, config.targets.ram_bytes) == (1024, 2**32 - 1, 1.0,
                                                                                                1024)


CONFIGS = {  # a run's config.json edited by hand: the same ranges, naming the file and the field
    "size": ({"data": {"size": 100000}}, r"config.json: data.size: 100000 is out of range: expected a whole number "
                                         r">= 1 and <= 1024 \(pixels\)"),
    "lr": ({"train": {"lr": 1e30}}, r"config.json: train.lr: 1e\+30 is out of range: expected a finite number > 0"),
    "lr NaN": ({"train": {"lr": float("nan")}}, r"config.json: train.lr: nan is out of range"),
    "seed": ({"data": {"seed": -1}}, r"config.json: data.seed: -1 is out of range: expected a whole number >= 0"),
    "ram": ({"targets": {"ram_bytes": 0}}, r"config.json: targets.ram_bytes: 0 is out of range: expected a finite "
                                           r"number >= 1024 and <= 17179869184$"),
    "window": ({"data": {"window_s": 1e308}}, r"config.json: data.window_s: 1e\+308 is out of range"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_config_json_number_out_of_range_is_one_line(case):
    from compress import CompressError
    from compress.config import RunConfig

    edit, pattern = CONFIGS[case]
    with pytest.raises(CompressError, match=pattern):
        RunConfig.from_dict(edit, "run/config.json")


def test_training_that_diverges_to_nan_stops_with_one_line(blob_data):
    """A learning rate of 1e30 (what --lr 1e30 gave before it was bounded; config.json now refuses it too) makes
    the loss NaN: training stops after that epoch with a CompressError naming the model and the epoch, not a
    sklearn traceback on NaN predictions later."""
    from compress import CompressError
    from compress.config import TrainConfig
    from compress.models import zoo
    from compress.search.train import Trainer

    trainer = Trainer(blob_data, TrainConfig(epochs=3, batch_size=32, lr=1e30), log=lambda message: None)
    with pytest.raises(CompressError, match=r"embedded3: training diverged: the loss is nan after epoch 1 at "
                                            r"learning rate 1e\+30; give a lower --lr"):
        trainer.fit(zoo.embedded3((24, 24, 1), 2))


def test_windows_too_large_for_memory_are_one_line(tmp_path, capsys):
    """Each option in range, together too much: two hours at 1000 Hz in windows of an hour every second would be
    155 GiB per subject; refused before any array is made, naming the options."""
    root = multitask_folder(tmp_path / "mt", edit=lambda lines: [lines[0]] + [
        ",".join([f"{60 * k}"] + row.split(",")[1:]) for k, row in enumerate(lines[1:])], edited=(0, 1, 2))
    code, err = main(["data", "inspect", str(root), "--rate", "1000", "--window-s", "3600", "--hop-s", "1", "--out",
                      str(tmp_path / "sheets")], capsys)
    check_one_line(code, err, r"s0\d.csv: subject s0\d: \d+ windows of 3600000 samples would take \d+\.\d GiB \(at "
                              r"most 4 GiB\); give a larger --hop-s, a shorter --window-s or a lower --rate", 2)


@pytest.mark.parametrize("source", ["synthetic-faces", "npz"])
def test_images_too_large_for_memory_are_one_line(source, tmp_path, capsys):
    """--size 1024 and --samples 200000 are each in range; together 781 GiB: refused before any image is made."""
    data = "synthetic-faces"
    if source == "npz":
        data = str(tmp_path / "many.npz")
        np.savez(data, x=np.zeros((3000, 8, 8), np.uint8), y=np.arange(3000) % 2)
    code, err = main(["data", "inspect", data, "--size", "1024", "--samples", "200000", "--out", str(tmp_path)],
                     capsys)
    count = "200000" if source == "synthetic-faces" else "3000"
    check_one_line(code, err, rf"(synthetic-faces|many.npz): {count} images at --size 1024 \(1024x1024x1\) would take "
                              r"[\d.]+ GiB as float32 \(at most 8 GiB\); give a smaller --size or fewer images", 2)


def test_an_unreadable_class_folder_is_not_taken_for_a_kemocon_participant(tmp_path, monkeypatch):
    """Looking for E4_HR.csv in an image folder's unreadable class folder raised PermissionError naming E4_HR.csv:
    the probe now treats the folder as holding none, and the image reader names it."""
    from pathlib import Path

    from compress.data import kemocon

    for name in ("happy", "sad"):
        (tmp_path / name).mkdir()
    real = Path.exists

    def denied(self, *args, **kwargs):
        if self.parent.name == "sad":  # as a folder without read permission does for a non-root user
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", denied)
    assert kemocon.is_kemocon(tmp_path) is False
