"""Command line: argparse only. Each sub-command builds typed configs and hands them to a job in compress.jobs."""
from __future__ import annotations

import argparse
import functools
import sys

from compress import CompressError, __version__, files, options, quiet
from compress.config import (CHOICES, SYNTHETIC_FACES, TRAIN_JOB, DataConfig, EmulatorConfig, ExportConfig, SearchConfig,
                             Targets, TrainConfig)

from compress.commands import FIRMWARE_BOARDS, FIRMWARE_CAMERAS  # noqa: E402  (compress.devices.profiles' boards)


# --- option groups shared by several sub-commands ------------------------------------------------

def _add_data_args(p: argparse.ArgumentParser, default: str | None = SYNTHETIC_FACES) -> None:
    g = p.add_argument_group("data")
    add = functools.partial(options.add, g, DataConfig)
    add("source", "--data", dest="data", default=default)
    add("positive", type=options.positive_class)
    add("class_subset", "--classes", type=options.class_list)
    add("task", choices=CHOICES["task"])
    add("size", type=options.bounded("size"))
    add("channels", type=int, choices=CHOICES["channels"])
    add("samples", type=options.bounded("samples"))
    add("balance", choices=CHOICES["balance"])
    add("seed", type=options.bounded("seed"))
    _add_signal_args(add)


def _add_signal_args(add) -> None:
    """Wearable sources: 'synthetic-wearables' or a K-EmoCon-layout folder (README: 'Wearable sensor data')."""
    add("subjects", type=options.bounded("subjects"))
    add("rate_hz", "--rate", type=options.bounded("rate_hz"))
    add("window_s", type=options.bounded("window_s"))
    add("hop_s", type=options.bounded("hop_s"))
    add("target", choices=CHOICES["target"])
    add("holdout_group", "--holdout-subject")
    add("loso", action="store_true")
    add("tasks", type=options.name_list)
    add("source_rate", type=options.bounded("source_rate"))


def _add_target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("device targets")
    add = functools.partial(options.add, g, Targets)
    add("device")
    add("budget_flops", type=options.budget)
    add("latency_model", choices=CHOICES["latency_model"])
    add("kernels", choices=CHOICES["kernels"])
    add("latency_s", "--max-latency-ms", dest="max_latency_ms", type=options.bounded("latency_s"))  # ms -> latency_s
    add("ram_bytes", "--max-ram-kb", dest="max_ram_kb", type=options.bounded("ram_bytes"))  # KiB -> ram_bytes
    add("flash_bytes", "--max-flash-kb", dest="max_flash_kb", type=options.bounded("flash_bytes"))
    add("calibration")


def _add_train_args(p: argparse.ArgumentParser, train: TrainConfig, what: str) -> None:
    g = p.add_argument_group("training")
    add = functools.partial(options.add, g, train)
    add("epochs", type=options.bounded("epochs"), what=what)
    add("batch_size", type=options.bounded("batch_size"))
    add("lr", type=options.bounded("lr"), what=what)
    add("retrain_baseline", action="store_true")
    add("task_weights", type=options.weight_list)


# --- sub-commands: options and handler --------------------------------------------------------------

def _search_parser(sub) -> None:
    p = sub.add_parser("search", help="search for the best reduced model that fits the device (the main job)",
                       description="A*-style search over model reductions; every candidate is trained briefly "
                                   "and scored by validation ROC AUC. Resumable with --resume.")
    add = functools.partial(options.add, p, SearchConfig)
    add("baseline", default=None)  # None: by the data (options.baseline)
    add("auc_ratio", type=options.fraction)
    add("strategy", choices=CHOICES["strategy"])
    add("max_evals", type=options.positive_int)
    add("max_minutes", type=options.positive_float)
    add("patience", type=options.count)
    add("finalists", type=options.positive_int)
    add("families", action=argparse.BooleanOptionalAction)
    options.add(p, TrainConfig, "distill", action=argparse.BooleanOptionalAction)
    options.add(p, TrainConfig, "final_epochs", type=options.bounded("final_epochs"))
    options.add(p, TrainConfig, "baseline_epochs", type=options.bounded("baseline_epochs"))
    p.add_argument("--out", help="run directory (default runs/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its journal")
    options.add(p, ExportConfig, "enabled", "--no-export", action="store_false")
    options.add(p, ExportConfig, "qat", action="store_true")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_data_args(p)
    _add_target_args(p)
    _add_train_args(p, TrainConfig(), what="candidate and the winner's fine-tune")
    options.add(p, TrainConfig, "baseline_lr", type=options.bounded("baseline_lr"))
    _add_executor_args(p)
    p.set_defaults(handler=lambda args: _jobs().search(options.run_config(args), args.out, args.resume, args.json))


def _add_executor_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parallel evaluation: the N best open nodes at once (dfs stays sequential)")
    add = functools.partial(options.add, g, SearchConfig)
    add("executor", choices=CHOICES["executor"])
    add("workers", type=options.positive_int)
    add("ray_address")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train and score a baseline only")
    p.add_argument("--baseline", default=None, help="zoo name, spec .json, or a trained .keras/.h5/.hdf5/"
                   ".onnx (trained further) (default as for search)")
    p.add_argument("--out", help="run directory (default runs/train-<timestamp>)")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    _add_data_args(p)
    _add_train_args(p, TRAIN_JOB, what="baseline")
    p.set_defaults(handler=lambda args: _jobs().train(options.data_config(args), options.baseline(args),
                                                      options.train_config(args), args.out, args.json))


def _estimate_parser(sub) -> None:
    p = sub.add_parser("estimate", help="cost of a model and its device targets, without training",
                       description="MODEL: a zoo name, a spec .json, a .keras/.h5/.hdf5 (Keras 2 or 3) or .onnx "
                                   "file, or a .tflite.")
    p.add_argument("model", nargs="?", help="the model to cost (not needed with --devices)")
    p.add_argument("--devices", action="store_true", help="list the built-in device profiles (name, core, clock, "
                   "flash, RAM, emulated or not) and exit")
    p.add_argument("--input-shape", help="H,W,C for zoo models (default the baseline's own)")
    p.add_argument("--classes", type=options.classes, help="number of classes for zoo models")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails (for scripts and CI)")
    _add_target_args(p)
    p.set_defaults(handler=lambda args: _commands().devices(args.json) if args.devices else _commands().estimate(
        args.model, options.input_shape(args.input_shape), args.classes, options.targets(args), args.json,
        strict=args.strict))


def _export_parser(sub) -> None:
    p = sub.add_parser("export", help="int8 TFLite export, verified against the float model",
                       description="MODEL: best.keras from a run (scored on the run's data unless --data is "
                                   "given), any supported .keras/.h5/.hdf5/.onnx file, or with --pick a run folder.")
    p.add_argument("model")
    p.add_argument("--out", help="output folder (default: beside MODEL; with --pick ID, RUN/pick-ID)")
    p.add_argument("--pick", type=options.positive_int, metavar="ID",
                   help="MODEL is a run folder: export its leaderboard goal ID (the id the search's leaderboard and "
                        "report print) from its saved weights")
    options.add(p, ExportConfig, "qat", action="store_true")
    options.add(p, ExportConfig, "beta", type=options.fraction)
    _add_data_args(p, default=None)
    p.set_defaults(handler=lambda args: _commands().export(
        args.model, options.data_config(args, args.data or SYNTHETIC_FACES), options.export_config(args),
        args.out, run_data=args.data is None, pick=args.pick))


def _firmware_parser(sub) -> None:
    p = sub.add_parser("firmware", help="Arduino sketch (or C++ library) with C arrays for an int8 .tflite model")
    p.add_argument("model", help="an int8 .tflite file")
    p.add_argument("--board", default="apollo3", choices=FIRMWARE_BOARDS,
                   help="apollo3: SparkFun Apollo3 core sketch (default); nano33ble: Arduino Nano 33 BLE sketch on "
                        "the Arduino_TensorFlowLite library; generic: C++ library + CMake project for any Cortex-M")
    p.add_argument("--device", help="device profile whose flash and RAM limits are checked: a built-in name "
                                    "(`estimate --devices` lists them) or the path of a board .json (default: the "
                                    "board's; generic: stm32f746)")
    p.add_argument("--out", help="output folder (default firmware/<model name>_<board>)")
    p.add_argument("--camera", choices=FIRMWARE_CAMERAS,
                   help="hm01b0: a sketch for the SparkFun Edge that reads its HM01B0 camera and lights an LED when "
                        "the face smiles (with --emulate: test images through a stand-in camera in QEMU)")
    p.add_argument("--emulate", action="store_true",
                   help="compile the sketch (or the library's self-test) for the device's core, run it in QEMU and "
                        "print its serial output")
    _add_emulator_args(p)
    p.set_defaults(handler=lambda args: _commands().firmware(args.model, args.board, args.out,
                                                         options.emulator_config(args) if args.emulate else None,
                                                         device=args.device, camera=args.camera))


def _add_emulator_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("emulated Cortex-M (TFLite Micro in QEMU; the device's core)")
    options.add(g, EmulatorConfig, "kernels", choices=CHOICES["kernels"])
    options.add(g, EmulatorConfig, "tflm_dir")


def _emulate_parser(sub) -> None:
    p = sub.add_parser("emulate", help="run an int8 .tflite in TFLite Micro on an emulated Cortex-M: outputs, "
                                       "arena, instructions per op",
                       description="Builds the TFLM runtime for the --device's core with arm-none-eabi-gcc (cached) "
                                   "and runs the model in its QEMU machine (Cortex-M4F: mps2-an386, M7: mps2-an500, "
                                   "M33: mps2-an505); the outputs must equal the TFLite interpreter's.")
    p.add_argument("model", help="an int8 .tflite file")
    p.add_argument("--inputs", help=".npz with 'x' (int8, or float in [0, 1]); default test_input.npz beside the "
                                    "model, else a deterministic pseudo-random input")
    options.add(p, EmulatorConfig, "device")
    options.add(p, EmulatorConfig, "cycles_per_instruction", type=options.positive_float)
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    _add_emulator_args(p)
    p.set_defaults(handler=lambda args: _commands().emulate(args.model, options.emulator_config(args), args.inputs, args.json))


def _report_parser(sub) -> None:
    p = sub.add_parser("report", help="tables and plots of a run (finished, running or killed)")
    p.add_argument("run_dir")
    p.add_argument("--format", default="md,html", help="comma-separated: md, html (default both)")
    p.add_argument("--compare", nargs="*", default=[], help="other run folders to put in one table")
    p.set_defaults(handler=lambda args: _commands().report(
        args.run_dir, tuple(f.strip() for f in args.format.split(",") if f.strip()), args.compare))


def _data_parser(sub) -> None:
    p = sub.add_parser("data", help="generate or inspect data sets")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    d = dsub.add_parser("inspect", help="class counts, splits, image size, imbalance and a contact sheet")
    d.add_argument("path", help="synthetic-faces, a FER2013 .csv, an image folder or an .npz")
    d.add_argument("--out", help="folder for the contact sheet (default runs/data)")
    d.add_argument("--json", action="store_true")
    _add_data_args(d, default=None)
    d.set_defaults(handler=lambda args: _commands().data_inspect(options.data_config(args, args.path), args.out, args.json))
    d = dsub.add_parser("generate", help="write synthetic-faces as an image folder (root/<split>/<class>/*.png)")
    d.add_argument("--out", required=True, help="folder to write")
    _add_data_args(d)
    d.set_defaults(handler=lambda args: _commands().data_generate(options.data_config(args), args.out))


EXIT_CODES = """exit status:
  0    done; every check passed
  1    a check failed: a device target, int8 AUC below beta, the firmware's self-test (the files are written)
  2    bad input or environment: an option, a file (missing, malformed, unreadable), a full disk, no permission,
       out of memory; the line starting `error:` names it and says what the command left
  3    search only: no model met every target and AUC >= beta (the closest are listed)
  130  interrupted (Ctrl-C); everything finished so far is saved"""


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
        prog="python -m compress", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Shrink a Keras classifier until it fits a microcontroller (default: Apollo3, <= 0.46 M FLOPs, "
                    "AUC >= 80% of the baseline's), then export it to int8 TFLite and an Arduino sketch.")
    parser.add_argument("--version", action="version", version=f"compress {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_search_parser, _train_parser, _estimate_parser, _export_parser, _firmware_parser, _emulate_parser,
                _report_parser, _data_parser):
        add(sub)
    options.add_verbose(parser)
    return parser


def _jobs():
    """The jobs module, imported only once a sub-command runs, so that --help stays instant."""
    from compress import jobs

    return jobs


def _commands():
    from compress import commands

    return commands


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or the one `error:` line of a bad option: the status it set
        return exc.code
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0 if args.command is None else 2
    output = getattr(args, "out", None) if args.command != "search" else None  # search says it itself (jobs)
    before = files.snapshot(output) if output else None
    try:
        with quiet(args.verbose):
            return args.handler(args) or 0
    except CompressError as exc:
        said = "nothing was written" in str(exc) or "left as it was" in str(exc)
        left = f"; {files.left_behind(output, before, scratch=())}" if output and not said else ""
        print(f"error: {exc}{left}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; everything finished so far is saved", file=sys.stderr)
        return 130
    except MemoryError:  # the run's, not one candidate's (those are journaled as failed): one line
        print("error: out of memory; everything finished so far is saved", file=sys.stderr)
        return 2
    except OSError as exc:  # missing file, full disk, permissions: the environment, so 2 (EXIT_CODES)
        print(f"error: {exc.filename or _where(args)}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _where(args) -> str:
    """The path an OSError without a file name most likely concerns: the command's output folder, else its input
    (a full disk's ENOSPC from a plain write() names no file)."""
    for name in ("out", "run_dir", "model", "path"):
        if getattr(args, name, None):
            return getattr(args, name)
    return "the current folder"
