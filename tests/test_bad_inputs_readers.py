"""Issue 26's remaining cases: one checked reader per file kind (Deliver 2), nothing already written is lost
(Deliver 6) and exit codes that mean one thing (Deliver 7). Each case is what a user hits; each must end in one
`error:` line naming the file and the field, with the documented exit status, and leave earlier output intact.
"""
import errno
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from compress import CompressError, cli
from test_bad_inputs import TFLITE, check_one_line, main

ROOT = Path(__file__).resolve().parents[1]
DEEP = "[" * 100_000 + "]" * 100_000
SMALL_FACES = ["--data", "synthetic-faces", "--samples", "200", "--size", "16"]


# --- Deliver 2: every field checked, the file and the field named --------------------------------------------------

CALIBRATIONS = {
    "cycles a list": ('{"cycles": [1, 2, 3]}', r"cycles: expected an object, got \[1, 2, 3\]"),
    "flops_per_s 0": ('{"flops_per_s": 0}', r"flops_per_s: expected a finite number > 0 and <= 1e\+15, got 0"),
    "negative cycles": ('{"cycles": {"cmsis-nn": {"conv": -4}}}', r"cycles.cmsis-nn.conv: expected a finite number "
                                                                   r">= 0 and <= 1e\+07, got -4"),
    "NaN cycles per instruction": ('{"cycles_per_instruction": {"cmsis-nn": NaN}}',
                                   r"cycles_per_instruction.cmsis-nn: expected a finite number > 0"),
    "1e308 FLOP/s": ('{"flops_per_s": 1e308}', r"flops_per_s: expected a finite number > 0 and <= 1e\+15"),
    "deep nesting": ('{"cycles": ' + DEEP + "}", r"nested deeper than 100 levels"),
}


@pytest.mark.parametrize("case", sorted(CALIBRATIONS))
def test_a_bad_calibration_is_one_line_naming_the_field(case, tmp_path, capsys):
    text, pattern = CALIBRATIONS[case]
    (tmp_path / "cal.json").write_text(text)
    code, err = main(["estimate", "embedded3", "--calibration", str(tmp_path / "cal.json")], capsys)
    check_one_line(code, err, rf"cal.json: {pattern}", 2)


def test_a_device_profile_file_is_checked_field_by_field(tmp_path):
    from compress.devices import profiles

    shipped = json.loads((profiles.PROFILES_DIR / "apollo3.json").read_text())
    (tmp_path / "apollo3.json").write_text(json.dumps(shipped))
    read = profiles.from_file(tmp_path / "apollo3.json")
    assert read.clock_hz == profiles.get("apollo3").clock_hz and read.flash_bytes == profiles.get("apollo3").flash_bytes
    (tmp_path / "apollo3.json").write_text(json.dumps(shipped | {"clock_hz": "48e6"}))
    with pytest.raises(CompressError, match=r"apollo3.json: clock_hz"):
        profiles.from_file(tmp_path / "apollo3.json")


def _spec(**changes) -> dict:
    from compress.models import zoo

    return zoo.embedded3((24, 24, 1), 2).to_dict() | changes


def _kernel(value) -> dict:
    spec = _spec()
    spec["layers"][0]["kernel"] = value
    return spec


SPECS = {
    "head 'false'": (_spec(head="false"), r"head must be true or false, not 'false'"),
    "a kernel of 10^30": (_kernel(10**30), r"kernel must be a whole number >= 0 and <= 4096, not 10{30}"),
    "a kernel of 1e30": (_kernel(1e30), r"kernel must be a whole number >= 0 and <= 4096, not 1e\+30"),
    "a billion classes": (_spec(classes=10**9), r"classes must be a whole number >= 2 and <= 1000"),
}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_a_bad_spec_field_is_one_line(case, tmp_path, capsys):
    doc, pattern = SPECS[case]
    (tmp_path / "spec.json").write_text(json.dumps(doc))
    code, err = main(["estimate", str(tmp_path / "spec.json")], capsys)
    check_one_line(code, err, rf"spec.json: .*{pattern}", 2)


def _keras_zip(path: Path, config_text: str) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", config_text)
        archive.writestr("metadata.json", json.dumps({"keras_version": "2.15.0"}))


@pytest.mark.parametrize("where", ["config", "metadata"])
def test_deep_nesting_inside_a_keras_file_is_one_line(where, tmp_path, capsys):
    path = tmp_path / "deep.keras"
    config = '{"class_name": "Sequential", "config": ' + DEEP + "}"
    if where == "metadata":  # the version check reads metadata.json; a deep one falls back to the config's fields
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": []}}))
            archive.writestr("metadata.json", DEEP)
        from compress.models.keras3 import saved_by_keras3

        assert saved_by_keras3(path, {"config": {"layers": []}}) is False
        return
    _keras_zip(path, config)
    code, err = main(["estimate", str(path)], capsys)
    check_one_line(code, err, r"deep.keras: its model config: nested deeper than 100 levels", 2)


def _run_folder(tmp_path: Path) -> Path:
    """A copy of the committed default run (journal, config, summary, export, best.keras) to edit."""
    run = tmp_path / "run"
    shutil.copytree(ROOT / "docs" / "default_run", run)
    return run


def test_config_json_with_a_string_for_a_number_names_the_field(tmp_path, capsys):
    run = _run_folder(tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["train"]["epochs"] = "3"
    (run / "config.json").write_text(json.dumps(config))
    code, err = main(["search", "--out", str(run), "--resume"], capsys)
    check_one_line(code, err, r"run/config.json: train.epochs: expected int, not '3'", 2)


@pytest.mark.parametrize("section, field, value", [("search", "strategy", "best"), ("data", "channels", 2),
                                                   ("targets", "kernels", "cmsis")])
def test_config_json_with_a_value_no_option_takes_names_the_file_not_an_option(section, field, value, tmp_path,
                                                                               capsys):
    """An edited config.json once failed later, blaming an option (--strategy) the user never typed."""
    run = _run_folder(tmp_path)
    config = json.loads((run / "config.json").read_text())
    config[section][field] = value
    (run / "config.json").write_text(json.dumps(config))
    code, err = main(["export", str(run / "best.keras"), "--out", str(tmp_path / "exported")], capsys)
    check_one_line(code, err, rf"run/config.json: {section}.{field}: expected one of .*, not {value!r}", 2)


@pytest.mark.parametrize("name", ["config.json", "summary.json", "export.json"])
def test_a_deeply_nested_run_file_is_one_line_or_left_out_of_the_report(name, tmp_path, capsys, monkeypatch):
    from compress.report.run import load_run

    run = _run_folder(tmp_path)
    (run / name).write_text('{"a": ' + DEEP + "}")
    if name == "config.json":
        with pytest.raises(CompressError, match=r"run/config.json: nested deeper than 100 levels"):
            load_run(run)
        return
    found = load_run(run)  # the report is drawn without a damaged summary or export, saying so
    assert (found.summary if name == "summary.json" else found.exported) is None
    err = capsys.readouterr().err
    assert f"{name}: nested deeper than 100 levels" in err and err.strip().endswith("the report leaves it out")


def test_journal_rows_missing_their_scores_or_nested_deep_are_skipped_with_a_warning(tmp_path, capsys):
    """A row without `val` once made the report die with KeyError: 'val'; now it is a corrupt row like any other."""
    from compress.report.run import load_run

    run = _run_folder(tmp_path)
    lines = (run / "journal.jsonl").read_text().splitlines()
    second = json.loads(lines[1])
    del second["val"]
    (run / "journal.jsonl").write_text("\n".join([lines[0], json.dumps(second), DEEP, *lines[2:]]) + "\n")
    found = load_run(run)
    assert len(found.rows) == len(lines) - 1 and all("auc" in r["val"] for r in found.rows)
    err = capsys.readouterr().err
    assert "line 2 is corrupt (val: missing)" in err and "line 3 is corrupt (the line: nested deeper" in err


def test_summary_json_with_a_wrong_field_is_named(tmp_path):
    from compress.summary import read_summary

    run = _run_folder(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    summary["leaderboard"][0]["val_auc"] = "high"
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(CompressError, match=r'summary.json: leaderboard\[0\].val_auc: expected a finite number, '
                                            r'got "high"'):
        read_summary(run)


def _export_folder(tmp_path: Path, edit_report=None, test_input=None) -> Path:
    """The fixed int8 model with an export.json describing it (edited) and a test_input.npz (replaced)."""
    import hashlib

    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(TFLITE, folder / "model.tflite")
    report = json.loads((ROOT / "models" / "export.json").read_text())
    report["sha256"] = hashlib.sha256(TFLITE.read_bytes()).hexdigest()
    (folder / "export.json").write_text(json.dumps(edit_report(report) if edit_report else report))
    if test_input is not None:
        buffer = io.BytesIO()
        np.savez(buffer, **test_input)
        (folder / "test_input.npz").write_bytes(buffer.getvalue())
    return folder


def _point(report: dict, **changes) -> dict:
    report["operating_point"] |= changes
    return report


FIRMWARE_FILES = {
    "export.json threshold 'high'": (dict(edit_report=lambda r: _point(r, threshold="high")),
                                     r"export/export.json: operating_point.threshold: expected a finite number"),
    "export.json with 3 class names": (dict(edit_report=lambda r: r | {"class_names": ["a", "b", "c"]}),
                                       r"export/export.json: it names 3 classes for a model with 2 outputs"),
    "export.json nested deep": (dict(edit_report=lambda r: r | {"roc": json.loads("[" * 99 + "]" * 99)}),
                                r"export/export.json: roc: expected an object"),
    "test_input.npz of another model": (dict(test_input={"x": np.zeros((1, 8, 8, 1), np.float32),
                                                         "label": np.int64(1)}),
                                        r"export/test_input.npz: its test image has 64 values but the model's input "
                                        r"has 2304"),
    "test_input.npz label 7": (dict(test_input={"x": np.zeros((1, 48, 48, 1), np.float32), "label": np.int64(7)}),
                               r"export/test_input.npz: its label 7 is not one of the model's 2 classes"),
    "test_input.npz with NaN pixels": (dict(test_input={"x": np.full((1, 48, 48, 1), np.nan, np.float32),
                                                        "label": np.int64(1)}),
                                       r"export/test_input.npz: 'x' must be a non-empty image of finite numbers"),
}


@pytest.mark.parametrize("case", sorted(FIRMWARE_FILES))
def test_firmware_names_the_file_beside_the_model(case, tmp_path, capsys):
    kwargs, pattern = FIRMWARE_FILES[case]
    folder = _export_folder(tmp_path, **kwargs)
    code, err = main(["firmware", str(folder / "model.tflite"), "--out", str(tmp_path / "sketch")], capsys)
    check_one_line(code, err, pattern, 2)
    assert not (tmp_path / "sketch").exists()


def test_a_zero_scale_on_an_inner_tensor_is_refused(tmp_path, capsys):
    from test_bad_inputs import tflite_edited

    def inner_zero_scale(graph, model):
        inner = graph.operators[0].outputs[0]  # the first conv's output: neither a graph input nor an output
        graph.tensors[inner].quantization.scale = np.array([0.0], np.float32)

    (tmp_path / "inner.tflite").write_bytes(tflite_edited(inner_zero_scale))
    code, err = main(["estimate", str(tmp_path / "inner.tflite")], capsys)
    check_one_line(code, err, r"inner.tflite: corrupt TFLite model: tensor \d+ has quantization scale 0", 2)


# --- Deliver 6: nothing already written is lost --------------------------------------------------------------------

def _not_trained(*args, **kwargs):
    raise AssertionError("the baseline stage was reached: the option should have been refused before training")


@pytest.fixture
def no_training(monkeypatch):
    from compress.stages import baseline

    monkeypatch.setattr(baseline, "baseline", _not_trained)


def test_a_failed_search_leaves_an_existing_out_as_it_was(tmp_path, capsys, no_training):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text('{"mine": "kept"}\n')
    (out / "notes.txt").write_text("my notes\n")
    code, err = main(["search", "--baseline", "alexnte.json", "--out", str(out), *SMALL_FACES], capsys)
    check_one_line(code, err, r"alexnte.json: no such file; .*run is left as it was", 2)
    assert (out / "config.json").read_text() == '{"mine": "kept"}\n' and (out / "notes.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == [".lock", "config.json", "notes.txt"]


def test_a_failed_search_into_a_new_folder_leaves_nothing(tmp_path, capsys, no_training):
    code, err = main(["search", "--baseline", "alexnte.json", "--out", str(tmp_path / "new"), *SMALL_FACES], capsys)
    check_one_line(code, err, r"alexnte.json: no such file; nothing was written", 2)
    assert not (tmp_path / "new").exists()


def test_resume_refuses_a_folder_whose_config_is_missing(tmp_path, capsys, no_training):
    run = _run_folder(tmp_path)
    (run / "config.json").unlink()
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    code, err = main(["search", "--out", str(run), "--resume"], capsys)
    check_one_line(code, err, r"run/config.json: missing, so --resume cannot tell whether these options are the "
                              r"run's; .*run is left as it was", 2)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"} == before


def test_resume_refuses_options_that_differ_from_the_config(tmp_path, capsys, no_training):
    run = _run_folder(tmp_path)
    code, err = main(["search", "--out", str(run), "--resume", "--strategy", "random"], capsys)
    check_one_line(code, err, r"run/config.json: --resume with different options .*search.strategy", 2)


@pytest.mark.parametrize("argv, pattern", [
    (["--qat", "--no-export"], r"--qat with --no-export: .* drop one of the two"),
    (["--tasks", "arousal"], r"--tasks arousal: synthetic-faces.* has one label, not several tasks"),
    (["--loso"], r"--loso: synthetic-faces.* has no subjects"),
    (["--loso", "--data", "synthetic-multitask", "--subjects", "4"], r"--loso: leave-one-subject-out is for "
                                                                     r"single-task wearable runs"),
])
def test_options_the_run_would_ignore_are_refused_before_training(argv, pattern, tmp_path, capsys, no_training):
    code, err = main(["search", "--out", str(tmp_path / "run"), *SMALL_FACES, *argv], capsys)
    check_one_line(code, err, pattern, 2)
    assert not (tmp_path / "run").exists()


def test_missing_weights_do_not_advise_what_is_then_refused(tmp_path):
    from compress.search.train import Evaluator
    from compress.models import zoo

    evaluator = Evaluator.__new__(Evaluator)
    evaluator.weights_dir = tmp_path
    with pytest.raises(CompressError) as raised:
        evaluator.model(zoo.embedded3((24, 24, 1), 2))
    assert "without --resume" not in str(raised.value) and "another --out" in str(raised.value)


def _full_disk_after(count: int, monkeypatch):
    """Path.write_text fills the disk after `count` files (ENOSPC, as a real full disk)."""
    real, written = Path.write_text, []

    def write_text(self, *args, **kwargs):
        if len(written) >= count:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        written.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize("existing", [False, True])
def test_firmware_on_a_full_disk_leaves_nothing_half_written(existing, tmp_path, capsys, monkeypatch):
    folder = _export_folder(tmp_path)
    sketch = tmp_path / "sketch"
    if existing:
        sketch.mkdir()
        (sketch / "my_notes.txt").write_text("kept\n")
    before = sorted(tmp_path.rglob("*"))
    _full_disk_after(2, monkeypatch)
    code, err = main(["firmware", str(folder / "model.tflite"), "--out", str(sketch)], capsys)
    check_one_line(code, err, r"sketch: no space left on the device; nothing was written, the folder is as it was",
                   2)
    assert sorted(tmp_path.rglob("*")) == before  # no half sketch, no scratch folder beside it
    monkeypatch.undo()
    assert main(["firmware", str(folder / "model.tflite"), "--out", str(sketch)], capsys)[0] == 0
    assert (sketch / "sketch.ino").exists() and (sketch / "my_notes.txt").exists() == existing


@pytest.mark.parametrize("existing", [False, True])
def test_every_failing_command_says_what_it_left(existing, tmp_path, capsys):
    sketch = tmp_path / "sketch"
    if existing:
        sketch.mkdir()
        (sketch / "mine.txt").write_text("kept\n")
    code, err = main(["firmware", str(TFLITE), "--out", str(sketch), "--device", "nosuch"], capsys)
    said = r"/sketch is left as it was" if existing else r"nothing was written"
    check_one_line(code, err, rf"unknown device .nosuch.*; .*{said}$", 2)
    assert sketch.exists() == existing


def test_report_keeps_its_old_figures_until_the_new_ones_are_drawn(tmp_path, monkeypatch):
    from compress.report import run_report

    run = _run_folder(tmp_path)
    old = {p.name: p.read_bytes() for p in (run / "report_files").iterdir()}

    def fails_halfway(found, files, others=()):
        (files / "pareto.png").write_bytes(b"half")
        raise CompressError("the data set cannot be loaded")

    monkeypatch.setattr(run_report, "run_document", fails_halfway)
    with pytest.raises(CompressError):
        run_report.write_run_report(run)
    assert {p.name: p.read_bytes() for p in (run / "report_files").iterdir()} == old
    assert [p.name for p in run.iterdir() if p.name.startswith(".report_files")] == []

    def draws_one(found, files, others=()):
        from compress.report.doc import Doc

        doc = Doc()
        (files / "pareto.png").write_bytes((ROOT / "docs" / "default_run" / "report_files" / "pareto.png").read_bytes())
        doc.image(files / "pareto.png", "the one figure")
        return doc

    monkeypatch.setattr(run_report, "run_document", draws_one)
    run_report.write_run_report(run)
    assert [p.name for p in (run / "report_files").iterdir()] == ["pareto.png"]  # no stale figure lingers
    assert "](report_files/pareto.png)" in (run / "report.md").read_text()


# --- Deliver 7: exit codes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [PermissionError(errno.EACCES, "Permission denied", "/runs/x/journal.jsonl"),
                                   OSError(errno.ENOSPC, "No space left on device", "/runs/x/weights/a.h5"),
                                   OSError(errno.EROFS, "Read-only file system", "/runs/x")])
def test_file_system_errors_are_bad_input_naming_the_path(error, monkeypatch, capsys):
    from compress import jobs

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(jobs, "train", fail)
    code, err = main(["train", "--out", "/runs/x"], capsys)
    check_one_line(code, err, rf"{error.filename}: {error.strerror}", 2)


def test_a_full_disk_without_a_file_name_names_the_output_folder(monkeypatch, capsys):
    """write() on a full disk raises ENOSPC with no file name: the line names the command's --out instead."""
    from compress import jobs

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jobs, "train", fail)
    code, err = main(["train", "--out", "/runs/x"], capsys)
    check_one_line(code, err, r"^error: /runs/x: No space left on device$", 2)


def test_a_search_that_hits_a_full_disk_says_what_it_left(tmp_path, capsys, monkeypatch):
    from compress.stages import prepare

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "config.json"))

    monkeypatch.setattr(prepare, "prepare", full)
    code, err = main(["search", "--out", str(tmp_path / "run")], capsys)
    check_one_line(code, err, r"run/config.json: No space left on device; nothing was written", 2)


def test_the_help_documents_the_exit_codes(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status:" in out and "a full disk, no permission" in out and "no model met every target" in out


@pytest.mark.parametrize("metrics, aucs, constant", [
    ({"confusion": [[40, 0], [35, 0]], "precision": 0.0, "recall": 0.0}, {"": 0.554}, [""]),  # issue 26's baseline
    ({"confusion": [[0, 14], [0, 16]]}, {"": 0.58}, [""]),  # every sample called positive
    ({"confusion": [[0, 14], [0, 16]]}, {"": 0.81}, []),  # a ranking learned, argmax off (tests/test_jobs.py's)
    ({"confusion": [[0, 9], [0, 11]]}, {"": 0.66}, []),  # tests/search/test_baseline_cache.py's
    ({"confusion": [[30, 10], [5, 30]]}, {"": 0.56}, []),
    ({"confusion": [[9, 1, 0], [8, 2, 0], [7, 3, 0]]}, {"": 0.56}, []),  # two of three classes: not constant
    ({"tasks": {"arousal": {"confusion": [[5, 5], [2, 8]]}, "valence": {"confusion": [[0, 10], [0, 10]]}}},
     {"arousal": 0.57, "valence": 0.57}, ["valence"]),
])
def test_a_baseline_that_predicts_one_class_has_not_learned(metrics, aucs, constant):
    from compress.config import RunConfig
    from compress.stages.baseline import check_predicts_classes, one_class_only

    assert one_class_only(metrics, aucs) == constant
    if constant:
        with pytest.raises(CompressError, match=r"predicts one class for every validation sample"):
            check_predicts_classes(metrics, RunConfig(), aucs)
    else:
        check_predicts_classes(metrics, RunConfig(), aucs)
