"""The deploy stage of a search: the winner (best.keras in the run folder) to int8, then to the device's firmware."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compress.deploy import export, firmware
from compress.devices import profiles


def ship(out: Path, data, *, beta: float, qat: bool, seed: int, device: str, expected_latency_s: float,
         log=print) -> dict:
    """Write model_int8.tflite, export.json, test_input.npz and firmware/model_<board>/ (the device's board, with
    the operating threshold export.json records); the firmware's figures, its folder relative to the run folder.

    Raises CompressError (after writing the files) when the int8 test AUC falls below beta.
    """
    from compress.models.keras_io import load_keras

    model = load_keras(out / "best.keras")
    exported = export.export_int8(model, data, out, qat=qat, beta=beta, seed=seed)
    log(export.summary_text(exported))
    with np.load(out / export.TEST_INPUT_FILE) as sample:
        image, label = sample["x"], int(sample["label"])
    board = profiles.board_for(device)
    folder = Path("firmware") / f"model_{board}"
    result = firmware.generate_sketch(out / export.MODEL_FILE, out / folder, board=board, device=device,
                                      test_image=image, expected_class=label, class_names=data.class_names,
                                      expected_latency_s=expected_latency_s)
    log(firmware.summary_text(result))
    result["sketch_dir"] = folder.as_posix()  # summary.json and the report: no machine path
    return result
