"""The deploy stage of a search: the winner (best.keras in the run folder) to int8, then to an Arduino sketch."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compress.deploy import export, firmware


def ship(out: Path, data, *, beta: float, qat: bool, seed: int, board: str, expected_latency_s: float,
         log=print) -> dict:
    """Write model_int8.tflite, export.json, test_input.npz and firmware/model_<board>/; the sketch's figures.

    Raises CompressError (after writing the files) when the int8 test AUC falls below beta.
    """
    from compress.models.keras_io import load_keras

    model = load_keras(out / "best.keras")
    exported = export.export_int8(model, data, out, qat=qat, beta=beta, seed=seed)
    log(export.summary_text(exported))
    with np.load(out / export.TEST_INPUT_FILE) as sample:
        image, label = sample["x"], int(sample["label"])
    result = firmware.generate_sketch(out / export.MODEL_FILE, out / "firmware" / f"model_{board}", board=board,
                                      test_image=image, expected_class=label, class_names=data.class_names,
                                      expected_latency_s=expected_latency_s)
    log(firmware.summary_text(result))
    return result
