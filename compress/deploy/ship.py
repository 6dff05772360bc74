"""The deploy stage of a search: the winner (best.keras in the run folder) to int8, then to the device's firmware."""
from __future__ import annotations

from pathlib import Path

from compress.deploy import export, firmware
from compress.deploy.test_input import read_test_input
from compress.devices import profiles


def ship(out: Path, data, *, beta: float | dict[str, float] | None, qat: bool, seed: int, device: str,
         expected_latency_s: float, log=print) -> dict:
    """Write model_int8.tflite, export.json, test_input.npz and firmware/model_<board>/ (the device's board, with
    the operating threshold export.json records); the firmware's figures, its folder relative to the run folder.

    Multi-task data (a non-empty `data.tasks`): beta is {task: beta_t} (one number: the same for every task), and
    the firmware gets the task names, the output each task is in and the expected class of each task.
    Raises CompressError (after writing the files) when the int8 test AUC falls below beta (any task's below its own).
    """
    from compress.models.keras_io import load_keras

    model = load_keras(out / "best.keras")
    exported = export.export_int8(model, data, out, qat=qat, beta=beta, seed=seed)
    log(export.summary_text(exported))
    sample = read_test_input(out / export.TEST_INPUT_FILE)  # a label per task, in the data's task order
    board = profiles.board_for(device)
    folder = Path("firmware") / f"model_{board}"
    config = firmware.SketchConfig(board=board, device=device, test_image=sample.x, expected_class=sample.expected,
                                   class_names=data.class_names, expected_latency_s=expected_latency_s,
                                   tasks=list(data.tasks) or None)
    result = firmware.generate_sketch(out / export.MODEL_FILE, out / folder, config)
    log(firmware.summary_text(result))
    result["sketch_dir"] = folder.as_posix()  # summary.json and the report: no machine path
    return result
