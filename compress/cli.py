"""Command line: argparse only. Each sub-command builds typed configs and hands them to a job in compress.jobs."""
from __future__ import annotations

import argparse
import sys

from compress import CompressError, __version__, options, quiet
from compress.config import DEFAULT_BASELINES, DEFAULT_BUDGET_FLOPS, SYNTHETIC_FACES, ExportConfig, TrainConfig

FIRMWARE_BOARDS = ("apollo3", "nano33ble", "generic")  # compress.deploy.firmware.BOARDS; a test keeps them equal


# --- option groups shared by several sub-commands ------------------------------------------------

def _add_data_args(p: argparse.ArgumentParser, default: str | None = SYNTHETIC_FACES) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", default=default,
                   help="'synthetic-faces' (generated, the default), a FER2013 .csv, an image folder "
                        "(root/<class>/*.png or root/{train,val,test}/<class>/...), an .npz with x and y; sensor "
                        "windows: 'synthetic-wearables' or a K-EmoCon folder; several tasks: 'synthetic-multitask' "
                        "or a folder of one CSV per subject (README: 'Multi-task models')")
    g.add_argument("--positive", help="make the task binary: this class (name or code) against the rest, "
                                      "e.g. --positive happy")
    g.add_argument("--classes", dest="class_subset", type=options.class_list,
                   help="comma-separated subset of classes to keep")
    g.add_argument("--task", default="binary", choices=["binary", "4class"],
                   help="synthetic-faces only: happy vs not-happy (default) or four expressions (happy, neutral, sad, surprise)")
    g.add_argument("--size", type=options.positive_int, default=48,
                   help="image side in pixels after crop and resize (default 48)")
    g.add_argument("--channels", type=int, default=1, choices=[1, 3], help="1 = grayscale (default), 3 = RGB")
    g.add_argument("--samples", type=options.positive_int, default=None,
                   help="synthetic-faces only: number of images (default 8000)")
    g.add_argument("--balance", default="none", choices=["oversample", "class-weight", "none"],
                   help="how to treat class imbalance in training (default none)")
    g.add_argument("--seed", type=options.count, default=0, help="seed for data, splits and training (default 0)")
    _add_signal_args(g)


def _add_signal_args(g) -> None:
    """Wearable sources: 'synthetic-wearables' or a K-EmoCon-layout folder (README: 'Wearable sensor data')."""
    g.add_argument("--subjects", type=options.positive_int, default=None,
                   help="generated wearables: subjects (16 synthetic-wearables, 20 synthetic-multitask)")
    g.add_argument("--rate", dest="rate_hz", type=options.positive_float, default=4.0,
                   help="wearables: resample every sensor to this many Hz (default 4)")
    g.add_argument("--window-s", type=options.positive_float, default=5.0, help="wearables: window seconds (5)")
    g.add_argument("--hop-s", type=options.positive_float, default=1.0, help="wearables: seconds between windows (1)")
    g.add_argument("--target", default="arousal", choices=["arousal", "valence"], help="wearables: label (arousal)")
    g.add_argument("--holdout-subject", dest="holdout_group", help="test subject (default: the first)")
    g.add_argument("--loso", action="store_true", help="wearables: leave-one-subject-out mean +- SD AUC")
    g.add_argument("--tasks", type=options.name_list, default=None,
                   help="multi-task data: comma-separated tasks, one head each (default: every task it labels)")
    g.add_argument("--source-rate", type=options.positive_float, default=None,
                   help="multi-task CSVs without a time column: their sampling rate in Hz")


def _add_target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("device targets")
    g.add_argument("--device", default="apollo3", help="device profile (default apollo3; see `estimate --help`)")
    g.add_argument("--budget-flops", type=options.budget, default=DEFAULT_BUDGET_FLOPS,
                   help="FLOPs per inference allowed (default 0.46e6, ~1 s on Apollo3 with reference kernels); "
                        "'none': no FLOPs target, the latency target bounds the search")
    g.add_argument("--latency-model", default="emulated", choices=["emulated", "flops", "ops"],
                   help="'emulated' (default): per-op instructions fitted to TFLM runs on an emulated Cortex-M4; "
                        "'flops': FLOPs / measured device FLOP/s (Shved 2019, cs231n); 'ops': cycles per MAC per op "
                        "kind")
    g.add_argument("--kernels", default="cmsis-nn", choices=["cmsis-nn", "reference"],
                   help="TFLM kernel set the latency models and the winner's emulation assume (default cmsis-nn)")
    g.add_argument("--max-latency-ms", type=options.positive_float,
                   help="latency target (default: FLOPs budget / device FLOP/s)")
    g.add_argument("--max-ram-kb", type=options.positive_float,
                   help="arena + runtime allowance limit in KiB (default: device SRAM)")
    g.add_argument("--max-flash-kb", type=options.positive_float,
                   help="model + runtime allowance limit in KiB (default: device flash)")
    g.add_argument("--calibration", help="JSON file of figures measured on a board (README: 'Calibration')")


def _add_train_args(p: argparse.ArgumentParser, epochs: int, lr: float, what: str) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=options.positive_int, default=epochs, help=f"epochs per {what} (default {epochs})")
    g.add_argument("--batch-size", type=options.positive_int, default=64, help="batch size (default 64)")
    g.add_argument("--lr", type=options.positive_float, default=lr,
                   help=f"Adam learning rate for the {what} (default {lr:g})")
    g.add_argument("--retrain-baseline", action="store_true", help="a .keras/.h5/.hdf5 baseline: train it from "
                   "scratch instead of starting from its trained weights")
    g.add_argument("--task-weights", type=options.weight_list, default=None,
                   help="multi-task: weight of each task's loss in the sum, in --tasks order, e.g. 1,2,1 (default all 1)")


# --- sub-commands: options and handler --------------------------------------------------------------

def _search_parser(sub) -> None:
    p = sub.add_parser("search", help="search for the best reduced model that fits the device (the main job)",
                       description="A*-style search over model reductions; every candidate is trained briefly "
                                   "and scored by validation ROC AUC. Resumable with --resume.")
    p.add_argument("--baseline", default=None, help="zoo name (alexnet, fer_cnn, resnet_like, embedded3; sensor "
                   "windows: fusion_cnn, fusion_late, lstm; several tasks: multitask_cnn), a spec .json, or your "
                   "trained .keras/.h5/.hdf5 model (default alexnet for images, fusion_cnn for wearables, "
                   "multitask_cnn for multi-task data)")
    p.add_argument("--auc-ratio", type=options.fraction, default=0.8,
                   help="keep AUC >= this x baseline AUC (default 0.8)")
    p.add_argument("--strategy", default="astar", choices=["astar", "dfs", "greedy", "random"],
                   help="astar (default, anytime), dfs (the cs231n study, Shved 2019), greedy (NetAdapt's rule), "
                        "random (the control)")
    p.add_argument("--max-evals", type=options.positive_int, default=60,
                   help="stop after this many trainings (default 60)")
    p.add_argument("--max-minutes", type=options.positive_float, default=30.0,
                   help="stop after this many minutes of training, counted over resumes (default 30)")
    p.add_argument("--patience", type=options.count, default=10,
                   help="stop after this many evaluations without a better goal (default 10; 0 = never)")
    p.add_argument("--finalists", type=options.positive_int, default=3,
                   help="fine-tune this many of the best goals; the best on val wins (default 3)")
    p.add_argument("--distill", action=argparse.BooleanOptionalAction, default=True,
                   help="fine-tune the finalists on the baseline's soft outputs too (default on)")
    p.add_argument("--final-epochs", type=options.positive_int, default=12,
                   help="fine-tune epochs for the winner (default 12)")
    p.add_argument("--out", help="run directory (default runs/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its journal")
    p.add_argument("--no-export", action="store_true", help="stop after the report; skip int8 export and firmware")
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning before int8 export")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_data_args(p)
    _add_target_args(p)
    _add_train_args(p, epochs=3, lr=1e-3, what="candidate and the winner's fine-tune")
    p.add_argument("--baseline-lr", type=options.positive_float, default=1e-4,
                   help="Adam learning rate for training the baseline from scratch (default 1e-4: AlexNet-scale "
                        "nets predict a constant after a few steps at 1e-3)")
    _add_executor_args(p)
    p.set_defaults(handler=lambda args: _jobs().search(options.run_config(args), args.out, args.resume, args.json))


def _add_executor_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parallel evaluation: the N best open nodes at once (dfs stays sequential)")
    g.add_argument("--executor", default="inline", choices=["inline", "processes", "ray"], help="inline (default: "
                   "in this process), processes (a local pool) or ray (pip install 'compress[ray]')")
    g.add_argument("--workers", type=options.positive_int, default=1, help="evaluations at once, N (default 1)")
    g.add_argument("--ray-address", help="Ray cluster to join (default $RAY_ADDRESS, else a local one)")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train and score a baseline only")
    p.add_argument("--baseline", default=None, help="zoo name, spec .json, or a trained .keras/.h5/.hdf5 (trained "
                   "further) (default as for search)")
    p.add_argument("--out", help="run directory (default runs/train-<timestamp>)")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    _add_data_args(p)
    _add_train_args(p, epochs=10, lr=1e-4, what="baseline")
    p.set_defaults(handler=lambda args: _jobs().train(
        options.data_config(args), args.baseline or DEFAULT_BASELINES.get(args.data, "alexnet"), TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                                      retrain_baseline=args.retrain_baseline,
                                                      task_weights=args.task_weights),
        args.out, args.json))


def _estimate_parser(sub) -> None:
    p = sub.add_parser("estimate", help="cost of a model and its device targets, without training",
                       description="MODEL: a zoo name, a spec .json, a .keras/.h5/.hdf5 file, or a .tflite file.")
    p.add_argument("model")
    p.add_argument("--input-shape", help="H,W,C for zoo models (default the baseline's own)")
    p.add_argument("--classes", type=options.classes, help="number of classes for zoo models")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails (for scripts and CI)")
    _add_target_args(p)
    p.set_defaults(handler=lambda args: _commands().estimate(args.model, options.input_shape(args.input_shape),
                                                             args.classes, options.targets(args), args.json,
                                                             strict=args.strict))


def _export_parser(sub) -> None:
    p = sub.add_parser("export", help="int8 TFLite export, verified against the float model",
                       description="MODEL: best.keras from a run (scored on the run's data unless --data is "
                                   "given), or any supported .keras/.h5/.hdf5 file.")
    p.add_argument("model")
    p.add_argument("--out", help="output folder (default: beside MODEL)")
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning before conversion")
    p.add_argument("--beta", type=options.fraction,
                   help="fail when int8 test AUC falls below this (default: from the run)")
    _add_data_args(p, default=None)
    p.set_defaults(handler=lambda args: _commands().export(
        args.model, options.data_config(args, args.data or SYNTHETIC_FACES), ExportConfig(qat=args.qat, beta=args.beta),
        args.out, run_data=args.data is None))


def _firmware_parser(sub) -> None:
    p = sub.add_parser("firmware", help="Arduino sketch (or C++ library) with C arrays for an int8 .tflite model")
    p.add_argument("model", help="an int8 .tflite file")
    p.add_argument("--board", default="apollo3", choices=FIRMWARE_BOARDS,
                   help="apollo3: SparkFun Apollo3 core sketch (default); nano33ble: Arduino Nano 33 BLE sketch on "
                        "the Arduino_TensorFlowLite library; generic: C++ library + CMake project for any Cortex-M")
    p.add_argument("--device", help="device profile whose flash and RAM limits are checked (default: the board's; "
                                    "generic: stm32f746)")
    p.add_argument("--out", help="output folder (default firmware/<model name>_<board>)")
    p.add_argument("--emulate", action="store_true",
                   help="compile the sketch (or the library's self-test) for Cortex-M4, run it in QEMU and print "
                        "its serial output")
    _add_emulator_args(p)
    p.set_defaults(handler=lambda args: _commands().firmware(args.model, args.board, args.out,
                                                         options.emulator_config(args) if args.emulate else None,
                                                         device=args.device))


def _add_emulator_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("emulated Cortex-M4 (TFLite Micro in QEMU mps2-an386)")
    g.add_argument("--kernels", default="cmsis-nn", choices=["cmsis-nn", "reference"],
                   help="TFLM kernel set (default cmsis-nn)")
    g.add_argument("--tflm-dir", help="folder holding the TFLM trees cortex_m4_cmsis_nn/ and cortex_m4_reference/ "
                                      "(default $COMPRESS_TFLM_DIR, else ../shared/tflm beside the checkout)")


def _emulate_parser(sub) -> None:
    p = sub.add_parser("emulate", help="run an int8 .tflite in TFLite Micro on an emulated Cortex-M4: outputs, "
                                       "arena, instructions per op",
                       description="Builds the TFLM runtime for Cortex-M4F with arm-none-eabi-gcc (cached) and runs "
                                   "the model in QEMU mps2-an386; the outputs must equal the TFLite interpreter's.")
    p.add_argument("model", help="an int8 .tflite file")
    p.add_argument("--inputs", help=".npz with 'x' (int8, or float in [0, 1]); default test_input.npz beside the "
                                    "model, else a deterministic pseudo-random input")
    p.add_argument("--device", default="apollo3", help="device whose clock turns instructions into time")
    p.add_argument("--cycles-per-instruction", type=options.positive_float,
                   help="device cycles per emulated instruction (default 1)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
        prog="python -m compress",
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
    try:
        with quiet(args.verbose):
            return args.handler(args) or 0
    except CompressError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; everything finished so far is saved", file=sys.stderr)
        return 130
    except MemoryError:  # the run's, not one candidate's (those are journaled as failed): one line
        print("error: out of memory; everything finished so far is saved", file=sys.stderr)
        return 1
    except OSError as exc:  # missing file, full disk, permissions: one line, not a traceback
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}".replace(": : ", ": "), file=sys.stderr)
        return 1
