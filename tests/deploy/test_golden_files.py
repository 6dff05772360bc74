"""The files export and firmware write stay byte for byte what they were before single-task became one task of many
(issue 22): a single-task and a 3-task model with fixed (untrained) weights, exported and given firmware for every
board, digested file by file and compared with tests/fixtures/deploy_golden.json, which the code before the change
wrote. test_input.npz is compared array by array (np.savez stamps the zip with the time of writing).

Regenerate the fixture only for a deliberate change of the files: COMPRESS_WRITE_GOLDEN=1 pytest this file."""
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from compress.deploy import export, firmware

GOLDEN = Path(__file__).parent.parent / "fixtures" / "deploy_golden.json"
BOARDS = ("apollo3", "nano33ble", "generic")


def _digest(folder: Path) -> dict:
    """{file name: sha256}, test_input.npz as {array: [dtype, shape, sha256 of its bytes]}, export.json's keys."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".npz":
            with np.load(path) as npz:
                found[path.name] = {k: [str(npz[k].dtype), list(npz[k].shape),
                                        hashlib.sha256(npz[k].tobytes()).hexdigest()] for k in npz.files}
        elif path.is_file():
            found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    if (folder / export.REPORT_FILE).is_file():
        found["export.json keys"] = list(json.loads((folder / export.REPORT_FILE).read_text()))
    return found


def _ship(model, data, out: Path, **export_args) -> dict:
    """Export, then firmware for every board from the export's test input, digested folder by folder."""
    report = export.export_int8(model, data, out / "export", representative_samples=50, seed=0, **export_args)
    with np.load(out / "export" / export.TEST_INPUT_FILE) as npz:
        image, label = npz["x"], npz["label"]
    digests = {"export": _digest(out / "export")}
    digests["export"]["summary_text"] = export.summary_text(report).splitlines()
    for board in BOARDS:
        sketch = out / f"golden_{board}"
        config = firmware.SketchConfig(board=board, test_image=image, expected_class=label,
                                       class_names=list(data.class_names), expected_latency_s=0.5)
        result = firmware.generate_sketch(out / "export" / export.MODEL_FILE, sketch, config)
        digests[board] = _digest(sketch)
        digests[board]["summary_text"] = firmware.summary_text(result).replace(str(sketch), "<folder>").splitlines()
    return digests


def _single(tmp_path):
    from conftest import blob_images
    from compress.data.dataset import Dataset
    from compress.models import zoo
    from compress.models.keras_build import build_model

    x, y = blob_images(160)
    data = Dataset("blobs", ("dim", "bright"), x[:80], y[:80], x[80:120], y[80:120], x[120:], y[120:])
    return _ship(build_model(zoo.embedded3((24, 24, 1), 2), seed=0), data, tmp_path, beta=0.0)


def _multi(tmp_path):
    from tests.deploy.test_multitask_deploy import TASKS, _data, _model

    return _ship(_model(), _data(), tmp_path, beta=dict.fromkeys(TASKS, 0.0))


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_export_and_firmware_files_are_as_before(kind, tmp_path):
    found = (_single if kind == "single" else _multi)(tmp_path)
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if os.environ.get("COMPRESS_WRITE_GOLDEN"):
        golden[kind] = found
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    assert found == golden[kind]
