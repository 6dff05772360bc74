"""The text of each board's firmware files, from templates/ and the figures compress.deploy.firmware measured.

A multi-task model (result["tasks"]) uses the *_multitask templates for the sketch, the C++ runner and its example
program; the README, figures and test image templates serve both, through fields that differ (a multi-task model's
come from compress.deploy.firmware_task_files). The expected serial output is one function for one task or many.
The boards are compress.devices.profiles' table."""
from __future__ import annotations

import textwrap
from importlib import resources
from string import Template

import numpy as np

from compress import __version__
from compress.console import ms
from compress.deploy import c_arrays, camera, threshold
from compress.deploy.firmware_checks import ARENA_MARGIN_FRACTION, ARENA_MARGIN_MIN_BYTES, resolver_lines
from compress.deploy.firmware_task_files import task_fields
from compress.deploy.firmware_tasks import self_tests
from compress.deploy.tflm import ARENA_ALIGN
from compress.devices import cores, profiles
from compress.devices.profiles import BOARDS

# What differs between the boards' READMEs: where the limits come from and what the runtime allowance holds.
_LIMITS = {
    "apollo3": ("the SparkFun Apollo3 core's `upload.maximum_size` and `upload.maximum_data_size` (boards.txt)",
                "Mbed OS core, Serial, TFLM", "`arduino-cli compile`"),
    "nano33ble": ("the Arduino Mbed OS Nano core's `upload.maximum_size` and `upload.maximum_data_size` (boards.txt)",
                  "Mbed OS core, USB serial, TFLM", "`arduino-cli compile`"),
    "generic": ("the `{device}` profile in `compress/devices/profiles.py`; check them against your part's linker "
                "script", "start-up code, C library, TFLM", "`arm-none-eabi-size` on your firmware"),
}
_BUILD_NOTE = {
    "apollo3": "// Build and upload: see README.md in this folder (SparkFun Apollo3 core + TensorFlow Lite Micro sources).\n"
               "// DebugLog() and tflite::InitializeTarget() are in tflm_platform.cpp (a .cpp, so Arduino's prototype\n"
               "// generator leaves their C linkage alone).",
    "nano33ble": "// Build and upload: see README.md in this folder (Arduino Mbed OS Nano core + the Arduino_TensorFlowLite\n"
                 "// library). The library provides DebugLog() and tflite::InitializeTarget() for this board.",
}
_INCLUDES = {"apollo3": "#include <Arduino.h>", "nano33ble": "#include <TensorFlowLite.h>\n\n#include <Arduino.h>"}
LSTM_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"  # the op whose state (variable tensors) outlives an Invoke()


class _CMakeTemplate(Template):
    delimiter = "@"  # CMake itself uses ${...}


def _text(name: str) -> str:
    return (resources.files("compress.deploy") / "templates" / name).read_text()


def _int_rows(values: np.ndarray, per_row: int = 16) -> str:
    flat = [int(v) for v in values.reshape(-1)]
    return "\n".join("  " + ", ".join(f"{v:4d}" for v in flat[i:i + per_row]) + ","
                     for i in range(0, len(flat), per_row))


def _decision_fields(point: dict) -> dict:
    """C++ for the decision: a threshold on the positive class's int8 score, or argmax."""
    text = threshold.describe(point)
    if point.get("rule") == "youden":
        pc, q = point["positive_class"], point["threshold_q"]
        constants = (f"constexpr int kPositiveClass = {pc};  // {point['positive_name']}\n"
                     f"constexpr int8_t kThresholdQ = {q};  // score {point['threshold']:.6g}: Youden's J on val")
        line = ("  // The operating threshold chosen on val (export.json), not argmax:\n"
                "  const int predicted = output->data.int8[kPositiveClass] >= kThresholdQ ? kPositiveClass\n"
                "                                                                         : 1 - kPositiveClass;")
        defines = (f"#define MODEL_RUNNER_POSITIVE_CLASS {pc}  // {point['positive_name']}\n"
                   f"#define MODEL_RUNNER_THRESHOLD_Q ({q})  // score {point['threshold']:.6g}: Youden's J on val")
        runner = ("  return scores[MODEL_RUNNER_POSITIVE_CLASS] >= MODEL_RUNNER_THRESHOLD_Q ? MODEL_RUNNER_POSITIVE_CLASS\n"
                  "                                                                  : 1 - MODEL_RUNNER_POSITIVE_CLASS;")
        bullet = (f"{text}. From `export.json` beside the model (`operating_point`), compiled in as an int8 score, so "
                  "the device compares integers exactly as the host did.")
    else:
        constants, defines, bullet = "", "// decision: argmax (no threshold)", text + "."
        line = ("  int predicted = 0;  // argmax: the highest score wins\n"
                "  for (int i = 1; i < kNumClasses; ++i) {\n"
                "    if (output->data.int8[i] > output->data.int8[predicted]) predicted = i;\n"
                "  }")
        runner = ("  int best = 0;  // argmax: the highest score wins\n"
                  "  for (int i = 1; i < MODEL_RUNNER_CLASSES; ++i) {\n"
                  "    if (scores[i] > scores[best]) best = i;\n"
                  "  }\n"
                  "  return best;")
    short = threshold.brief(point)
    constants += ("\n" if constants else "") + f"const char* const kDecision = {c_arrays.c_string(short)};"
    comment = "\n".join(textwrap.wrap(text, 116, initial_indent="// Decision: ", subsequent_indent="//           "))
    return dict(decision_text=text, decision_comment=comment, decision_constants=constants, decision_line=line, decision_bullet=bullet,
                runner_decision_defines=defines, runner_decision=runner, decision_short=short,
                decision_c_string=c_arrays.c_string(short))


def expected_output(result: dict, what: str = "sketch") -> str:
    """The serial lines the board should print for its built-in input (scores of the host's TFLM run): each
    class's score (a single-task model), or each task's class and its score."""
    names, tasks, tests = result["class_names"], result.get("tasks"), self_tests(result)
    verdict = lambda ok: "PASS" if ok else "FAIL"  # noqa: E731
    lines = [f"compress {what} {result['sketch']}: {result['model_bytes']}-byte model, "
             f"{f'{len(tasks)} tasks x ' if tasks else ''}{len(names)} classes, arena {result['arena_bytes']} bytes",
             f"arena used: <the arena TFLM really used> of {result['arena_bytes']} bytes",
             f"decision: {threshold.brief(result['decision'])}"]
    if tasks:
        lines += [f"{t}: {names[p]} ({s[p]:.2f})  expected: {names[e]}  {verdict(p == e)}" for t, e, p, s in tests]
        right = sum(e == p for _, e, p, _ in tests)
        lines.append(f"self-test: {right} of {len(tests)} tasks as expected  {verdict(right == len(tests))}")
    else:
        [(_, expected, best, scores)] = tests
        lines += [f"score {name}: {score:.4f}" for name, score in zip(names, scores)]
        lines.append(f"predicted: {names[best]}  expected: {names[expected]}  {verdict(best == expected)}")
    return "\n".join(lines + (["latency_us: <measured on the board>"] if what == "sketch" else []))


def _fields(tflite_bytes: bytes, info: dict, result: dict, image: np.ndarray, image_source: str) -> dict:
    """Template fields shared by every board's files."""
    inp, out, names, board = info["input"], info["output"], result["class_names"], result["board"]
    device = profiles.get(result["device"])
    profile = BOARDS[board]
    latency = result["expected_latency_s"]
    limits, runtime_what, sizes_tool = _LIMITS[board]
    arena_note = ("The sketch prints the arena it really used: shrink `kTensorArenaSize` to that plus a little if RAM "
                  "is tight." if profile.kind == "sketch" else "`model_runner_arena_used_bytes()` gives the arena "
                  "really used: shrink `MODEL_RUNNER_ARENA_BYTES` to that plus a little if RAM is tight.")
    return dict(
        sketch=result["sketch"], model_file=result["model_file"], version=__version__, board_title=profile.title,
        baud=profile.baud, model_bytes=len(tflite_bytes), sha256=result["sha256"], sha256_short=result["sha256"][:16],
        array_name=c_arrays.c_array_name(result["sketch"]), target=c_arrays.c_identifier(result["sketch"]),
        input_desc="x".join(str(d) for d in inp["shape"][1:]), classes=len(names),
        class_names=", ".join(c_arrays.c_string(n) for n in names), ops_list=", ".join(info["ops"]),
        op_count=len(info["ops"]), resolver_lines=resolver_lines(info["ops"]),
        arena_bytes=result["arena_bytes"], arena_measured=result["arena_measured_bytes"],
        arena_margin=result["arena_margin_bytes"], arena_advice=arena_note,
        margin_rule=f"max({ARENA_MARGIN_MIN_BYTES} bytes, {ARENA_MARGIN_FRACTION:.0%} of the measurement), "
                    f"rounded up to {ARENA_ALIGN} bytes",
        input_scale=f"{inp['scale']:.8g}", input_zero_point=inp["zero_point"],
        output_scale=f"{out['scale']:.8g}", output_zero_point=out["zero_point"],
        output_scale_text=f"{out['scale']:.4g} in score",
        latency_text=("not estimated here (the run's report has the estimate)" if latency is None else
                      f"about {ms(latency)} per inference on {device.name} (estimate from the cost model, "
                      "not measured)"),
        checks_table="\n".join(f"| {c['target']}: {c['what']} | {c['measured']:,} + {c['allowance']:,} = "
                               f"{c['figure']:,} | {c['limit']:,} | {'PASS' if c['passed'] else 'FAIL'} |"
                               for c in result["checks"]),
        limits_source=limits.format(device=device.name), runtime_what=runtime_what, sizes_tool=sizes_tool,
        fqbn_table="\n".join(f"   | {title} | `{fqbn}` |" for title, fqbn in profile.fqbns),
        fqbn_default=profile.fqbns[0][1] if profile.fqbns else "", fqbn_edge=profile.fqbns[0][1] if profile.fqbns
        else "", device=device.name, core=device.core, **cores.firmware_fields(device.core),
        image_bytes=image.size, image_rows=_int_rows(image), image_source=image_source,
        build_note=_BUILD_NOTE.get(board, ""), sketch_includes=_INCLUDES.get(board, ""), **_state_reset(info["ops"]),
        **(task_fields(result) if result.get("tasks") else _single_fields(result, out)))


def _state_reset(ops: list[str]) -> dict:
    """C++ that zeroes the model's variable tensors before each Invoke() (empty for a model without an LSTM, whose
    files stay as they were): TFLM's LSTM kernel keeps its state across Invoke(), the host runs each input from a
    zero state (tflm.run_tflm, outputs.run_tflite_outputs), and so must the board for its scores to match."""
    if LSTM_OP not in ops:
        return {"state_reset": "", "runner_state_reset": ""}
    why = "  // the LSTM's state back to zero: each input on its own, as on the host (TFLM keeps it across Invoke())\n"
    return {"state_reset": why + ("  if (interpreter->Reset() != kTfLiteOk) {\n"
                                  "    Serial.println(\"ERROR: Reset() failed\");\n"
                                  "    delay(1000);\n"
                                  "    return;\n"
                                  "  }\n"),
            "runner_state_reset": why + "  if (interpreter->Reset() != kTfLiteOk) return MODEL_RUNNER_INVOKE_FAILED;\n"}


def _single_fields(result: dict, out: dict) -> dict:
    """The fields a one-output model's files fill in (the decision, the output, the usage example)."""
    names, fields = result["class_names"], _decision_fields(result["decision"])
    fields.update(
        expected_class=result["expected_class"], expected_name=names[result["expected_class"]],
        output_text=f"Output: {len(names)} int8 scores, scale\n  {out['scale']:.8g}, zero point {out['zero_point']}.",
        expected_line=f"constexpr int kExpectedClass = {result['expected_class']};  "
                      f"// {names[result['expected_class']]}",
        runner_predict_api="`model_runner_predict(scores)`",
        usage_snippet="\n".join([
            "static int8_t input[MODEL_RUNNER_INPUT_BYTES];  /* your image, quantized: q = x / scale + zero point */",
            "static int8_t scores[MODEL_RUNNER_CLASSES];",
            "",
            "if (model_runner_init(NULL) != MODEL_RUNNER_OK) { /* model_runner_status_text() says why */ }",
            "if (model_runner_invoke(input, scores) == MODEL_RUNNER_OK) {",
            f"  int label = model_runner_predict(scores);      /* {fields['decision_short']} */",
            "  float score = model_runner_score(scores[label]);",
            "}"]))
    return fields


def render(tflite_bytes: bytes, info: dict, result: dict, image: np.ndarray, image_source: str) -> dict[str, str]:
    """Every file of the board's firmware as text, by name (firmware.json excepted)."""
    fields = _fields(tflite_bytes, info, result, image, image_source)
    sketch, board = result["sketch"], result["board"]
    fill = lambda name: Template(_text(name)).substitute(fields)  # noqa: E731
    variant = "_multitask" if result.get("tasks") else ""  # the templates of a multi-task model's own code
    files = {"test_image.h": fill("test_image.h.tmpl")}
    if board == "generic":
        fields["expected_output_indented"] = "\n".join("   " + line for line in
                                                       expected_output(result, "library").splitlines())
        fields["figures"] = fill("figures.md.tmpl")
        files.update({name: fill(f"{name}.tmpl") for name in ("model_ops.h",)})
        files.update({name: fill(f"{name.replace('.', variant + '.', 1)}.tmpl")
                      for name in ("model_runner.h", "model_runner.cc", "selftest_main.cc")})
        files["README.md"] = fill("generic_README.md.tmpl")
        files["CMakeLists.txt"] = _CMakeTemplate(_text("CMakeLists.txt.tmpl")).substitute(fields)
        files["arm-none-eabi.cmake"] = _text("arm-none-eabi.cmake.tmpl")
        files["model_data.h"], files["model_data.cc"] = c_arrays.c_arrays(tflite_bytes, sketch)
        return files
    fields["expected_output"] = expected_output(result)
    fields["figures"] = fill("figures.md.tmpl")
    files[f"{sketch}.ino"] = fill(f"sketch{variant}.ino.tmpl")
    files["README.md"] = fill(f"{board}_README.md.tmpl")
    if board == "apollo3":  # the official library brings these hooks for the Nano 33 BLE only
        files["tflm_platform.cpp"] = fill("tflm_platform.cpp.tmpl")
    files["model_data.h"], files["model_data.cpp"] = c_arrays.c_arrays(tflite_bytes, sketch, header="model_data.h")
    return camera.render(files, fields, info, result) if result.get("camera") else files
