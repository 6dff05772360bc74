"""Command line: argparse sub-commands that hand their options to the modules; nothing heavy is imported here."""
from __future__ import annotations

import argparse
import sys

from compress import CompressError, __version__

DEFAULT_BUDGET_FLOPS = 0.46e6  # Apollo3 at ~0.46 MFLOP/s (seed 001) -> about 1 s per inference


def _add_data_args(p: argparse.ArgumentParser, default: str | None = "synthetic-faces") -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", default=default,
                   help="'synthetic-faces' (generated, the default), a FER2013 .csv, an image folder "
                        "(root/<class>/*.png or root/{train,val,test}/<class>/...), or an .npz with x and y")
    g.add_argument("--positive", help="make the task binary: this class (name or code) against the rest, "
                                      "e.g. --positive happy")
    g.add_argument("--classes", dest="class_subset", help="comma-separated subset of classes to keep")
    g.add_argument("--task", default="binary", choices=["binary", "4class"],
                   help="synthetic-faces only: happy vs not-happy (default) or seed 004's four classes")
    g.add_argument("--size", type=int, default=48, help="image side in pixels after crop and resize (default 48)")
    g.add_argument("--channels", type=int, default=1, choices=[1, 3], help="1 = grayscale (default), 3 = RGB")
    g.add_argument("--samples", type=int, default=None,
                   help="synthetic-faces only: number of images (default 8000)")
    g.add_argument("--balance", default="none", choices=["oversample", "class-weight", "none"],
                   help="how to treat class imbalance in training (default none)")
    g.add_argument("--seed", type=int, default=0, help="seed for data, splits and training (default 0)")


def _add_target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("device targets")
    g.add_argument("--device", default="apollo3", help="device profile (default apollo3; see `estimate --help`)")
    g.add_argument("--budget-flops", type=float, default=DEFAULT_BUDGET_FLOPS,
                   help="FLOPs per inference allowed (default 0.46e6, ~1 s on Apollo3)")
    g.add_argument("--latency-model", default="flops", choices=["flops", "ops"],
                   help="'flops': FLOPs / measured device FLOP/s (seed 001); 'ops': cycles per MAC per op kind")
    g.add_argument("--calibration", help="JSON file of measured cycles-per-MAC figures replacing the defaults")


def _add_train_args(p: argparse.ArgumentParser, epochs: int, lr: float, what: str) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs, help=f"epochs per {what} (default {epochs})")
    g.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    g.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate for the {what} (default {lr:g})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compress",
        description="Shrink a Keras classifier until it fits a microcontroller (default: Apollo3, <= 0.46 M FLOPs, "
                    "AUC >= 80% of the baseline's), then export it to int8 TFLite and an Arduino sketch.")
    parser.add_argument("--version", action="version", version=f"compress {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("search", help="search for the best reduced model that fits the device (the main job)",
                       description="A*-style search over model reductions; every candidate is trained briefly "
                                   "and scored by validation ROC AUC. Resumable with --resume.")
    p.add_argument("--baseline", default="alexnet", help="zoo name (alexnet, fer_cnn, resnet_like, embedded3) "
                                                         "or a spec .json (default alexnet)")
    p.add_argument("--auc-ratio", type=float, default=0.8, help="keep AUC >= this x baseline AUC (default 0.8)")
    p.add_argument("--strategy", default="astar", choices=["astar", "dfs", "greedy"], help="default astar")
    p.add_argument("--max-evals", type=int, default=60, help="stop after this many trainings (default 60)")
    p.add_argument("--max-minutes", type=float, default=30.0, help="stop after this many minutes (default 30)")
    p.add_argument("--final-epochs", type=int, default=12, help="fine-tune epochs for the winner (default 12)")
    p.add_argument("--out", help="run directory (default runs/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its journal")
    p.add_argument("--no-export", action="store_true", help="stop after the report; skip int8 export and firmware")
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning before int8 export")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_data_args(p)
    _add_target_args(p)
    _add_train_args(p, epochs=3, lr=1e-3, what="candidate and the winner's fine-tune")
    p.add_argument("--baseline-lr", type=float, default=1e-4,
                   help="Adam learning rate for training the baseline from scratch (default 1e-4: AlexNet-scale "
                        "nets predict a constant after a few steps at 1e-3)")
    p.set_defaults(handler=_cmd_search)

    p = sub.add_parser("train", help="train and score a baseline only")
    p.add_argument("--baseline", default="alexnet", help="zoo name or spec .json (default alexnet)")
    p.add_argument("--out", help="run directory (default runs/train-<timestamp>)")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    _add_data_args(p)
    _add_train_args(p, epochs=10, lr=1e-4, what="baseline")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("estimate", help="cost of a model and its device targets, without training",
                       description="MODEL: a zoo name, a spec .json, a .keras/.h5 file, or a .tflite file.")
    p.add_argument("model")
    p.add_argument("--input-shape", help="H,W,C for zoo models (default the baseline's own)")
    p.add_argument("--classes", type=int, help="number of classes for zoo models")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    _add_target_args(p)
    p.set_defaults(handler=_cmd_estimate)

    p = sub.add_parser("export", help="int8 TFLite export, verified against the float model",
                       description="MODEL: best.keras from a run, or any supported .keras/.h5 file.")
    p.add_argument("model")
    p.add_argument("--out", help="output folder (default: beside MODEL)")
    p.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning before conversion")
    p.add_argument("--beta", type=float, help="fail when int8 test AUC falls below this (default: from the run)")
    _add_data_args(p)
    p.set_defaults(handler=_cmd_export)

    p = sub.add_parser("firmware", help="Arduino sketch with C arrays for an int8 .tflite model")
    p.add_argument("model", help="an int8 .tflite file")
    p.add_argument("--board", default="apollo3", help="target board (default apollo3)")
    p.add_argument("--out", help="sketch folder (default firmware/<model name>_<board>)")
    p.set_defaults(handler=_cmd_firmware)

    p = sub.add_parser("report", help="tables and plots of a run (finished, running or killed)")
    p.add_argument("run_dir")
    p.add_argument("--format", default="md,html", help="comma-separated: md, html (default both)")
    p.add_argument("--compare", nargs="*", default=[], help="other run folders to put in one table")
    p.set_defaults(handler=_cmd_report)

    p = sub.add_parser("data", help="generate or inspect data sets")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    d = dsub.add_parser("inspect", help="class counts, splits, image size, imbalance and a contact sheet")
    d.add_argument("path", help="synthetic-faces, a FER2013 .csv, an image folder or an .npz")
    d.add_argument("--out", help="folder for the contact sheet (default runs/data)")
    d.add_argument("--json", action="store_true")
    _add_data_args(d, default=None)
    d.set_defaults(handler=_cmd_data_inspect)
    d = dsub.add_parser("generate", help="write synthetic-faces as an image folder (root/<split>/<class>/*.png)")
    d.add_argument("--out", required=True, help="folder to write")
    _add_data_args(d)
    d.set_defaults(handler=_cmd_data_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return args.handler(args) or 0
    except CompressError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; everything finished so far is saved", file=sys.stderr)
        return 130
    except OSError as exc:  # missing file, full disk, permissions: one line, not a traceback
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}".replace(": : ", ": "), file=sys.stderr)
        return 1


# --- handlers: translate options into calls on the modules ------------------------------------

def _cmd_search(args) -> int:
    from compress import pipeline

    return pipeline.search_command(args)


def _cmd_train(args) -> int:
    from compress import pipeline

    return pipeline.train_command(args)


def _cmd_estimate(args) -> int:
    import json

    from compress import cost, devices, report

    shape = None
    if args.input_shape:
        try:
            shape = tuple(int(d) for d in args.input_shape.split(","))
        except ValueError:
            shape = ()
        if len(shape) != 3 or min(shape) < 1:
            raise CompressError(f"--input-shape {args.input_shape!r}: expected H,W,C such as 48,48,1")
    device = devices.get(args.device)
    calibration = devices.load_calibration(args.calibration) if args.calibration else None
    model_cost = cost.cost_of(args.model, shape, args.classes)
    measured_arena = None
    if args.model.endswith(".tflite"):  # a real flatbuffer: measure its arena in the TFLite Micro runtime
        from pathlib import Path

        from compress import firmware

        measured_arena = firmware.measure_arena_bytes(Path(args.model).read_bytes())
    checks = devices.check(model_cost, device, devices.Targets(budget_flops=args.budget_flops),
                           args.latency_model, calibration=calibration, measured_arena_bytes=measured_arena)
    if args.json:
        print(json.dumps(report.estimate_dict(model_cost, device, checks, args.latency_model, measured_arena)))
    else:
        print(report.estimate_text(model_cost, device, checks, args.latency_model, measured_arena))
    return 0


def _cmd_export(args) -> int:
    from compress import export

    return export.export_command(args)


def _cmd_firmware(args) -> int:
    from compress import firmware

    return firmware.firmware_command(args)


def _cmd_report(args) -> int:
    from compress import run_report

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    for path in run_report.write_run_report(args.run_dir, formats, compare=args.compare):
        print(path)
    if args.compare:
        print(run_report.compare_markdown([args.run_dir, *args.compare]))
    return 0


def _cmd_data_inspect(args) -> int:
    import json
    from pathlib import Path

    from compress import data

    ds = data.load_from_args(args)
    info = data.summary(ds)
    stem = Path(args.path).stem if args.path != data.SYNTHETIC else data.SYNTHETIC
    info["contact_sheet"] = str(data.contact_sheet(ds, Path(args.out or "runs/data") / f"{stem}_samples.png"))
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    h, w, c = info["input_shape"]
    print(f"{info['name']}: {info['images']} images, {h}x{w}x{c}, {len(ds.class_names)} classes")
    width = max(len(n) for n in ds.class_names + ("class", "total"))
    print(f"{'class':<{width}} {'train':>7} {'val':>7} {'test':>7} {'total':>7}")
    for name in ds.class_names:
        row = [info["counts"][s][name] for s in data.SPLITS] + [info["class_totals"][name]]
        print(f"{name:<{width}} " + " ".join(f"{n:>7}" for n in row))
    totals = [sum(info["counts"][s].values()) for s in data.SPLITS] + [info["images"]]
    print(f"{'total':<{width}} " + " ".join(f"{n:>7}" for n in totals))
    print(f"imbalance ratio (largest / smallest class): {info['imbalance_ratio']:.2f}")
    print(f"contact sheet: {info['contact_sheet']}")
    return 0


def _cmd_data_generate(args) -> int:
    from compress import data

    ds = data.load_from_args(args)
    n = data.write_folder(ds, args.out)
    print(f"wrote {n} images of {ds.name} ({', '.join(ds.class_names)}) to {args.out}/{{train,val,test}}/<class>/")
    return 0
