"""Baseline specs from the seed projects (images) and for sensor windows, each a function of input shape and classes."""
from __future__ import annotations

from compress.models.spec import Layer, ModelSpec

DEFAULT_INPUT = (48, 48, 1)


def _conv_block(i: int, filters: int, kernel: int, stride: int = 1, bn: bool = False) -> list[Layer]:
    block = [Layer("conv", f"conv{i}", units=filters, kernel=kernel, stride=stride)]
    if bn:
        block.append(Layer("bn", f"bn{i}"))
    return block + [Layer("relu", f"relu{i}")]


def _pool(name: str, size: int = 2, stride: int = 2) -> Layer:
    return Layer("maxpool", name, kernel=size, stride=stride, padding="valid")


def _dense_block(i: int, units: int, rate: float, bn: bool = False) -> list[Layer]:
    block = [Layer("dense", f"fc{i}", units=units)]
    if bn:
        block.append(Layer("bn", f"fc{i}_bn"))
    return block + [Layer("relu", f"fc{i}_relu"), Layer("dropout", f"fc{i}_drop", rate=rate)]


def alexnet(input_shape=DEFAULT_INPUT, classes: int = 2) -> ModelSpec:
    """AlexNet's topology (11/5/3/3/3 kernels, 3 max-pools, 3 dense), widths scaled to ~80 M FLOPs at 48x48x1.

    The cs231n study's baseline (Shved 2019) cost 82.7 M FLOPs; AlexNet's 96/256/384/384/256 widths are scaled by
    ~0.4 and its stride-4 first conv becomes stride 2 so a 48x48 input keeps enough resolution for five convs.
    Like the original it has no batch norm, and it needs a small learning rate: at Adam 1e-3 its first-layer ReLUs die
    within ~20 steps and it predicts a constant (with or without BN after the convs, measured), hence the
    default `--lr` 1e-4.
    """
    layers = [
        *_conv_block(1, 40, 11, stride=2), _pool("pool1"),
        *_conv_block(2, 112, 5), _pool("pool2"),
        *_conv_block(3, 152, 3),
        *_conv_block(4, 152, 3),
        *_conv_block(5, 104, 3), _pool("pool3"),
        Layer("flatten", "flatten"),
        *_dense_block(6, 512, 0.5),
        *_dense_block(7, 512, 0.5),
    ]
    return ModelSpec(input_shape, classes, layers, name="alexnet")


def fer_cnn(input_shape=DEFAULT_INPUT, classes: int = 7) -> ModelSpec:
    """Seed 002's FER2013 network: 6 conv, 7 BN, 5 max-pools, 7 dropout, 3 dense (~5.8 M params at 48x48x1)."""
    layers = [
        *_conv_block(1, 32, 3, bn=True), _pool("pool1"), Layer("dropout", "drop1", rate=0.25),
        *_conv_block(2, 64, 5, bn=True), _pool("pool2"), Layer("dropout", "drop2", rate=0.25),
        *_conv_block(3, 128, 3, bn=True),
        *_conv_block(4, 256, 3, bn=True), _pool("pool3"), Layer("dropout", "drop3", rate=0.25),
        *_conv_block(5, 512, 3, bn=True), _pool("pool4"), Layer("dropout", "drop4", rate=0.25),
        *_conv_block(6, 640, 3, bn=True), _pool("pool5"), Layer("dropout", "drop5", rate=0.25),
        Layer("flatten", "flatten"),
        *_dense_block(7, 1024, 0.25, bn=True),
        *_dense_block(8, 512, 0.25),
    ]
    return ModelSpec(input_shape, classes, layers, name="fer_cnn")


def resnet_like(input_shape=(48, 48, 3), classes: int = 4) -> ModelSpec:
    """Seed 004's small residual network: a stem conv, three residual blocks, global pooling, one hidden dense.

    Seed 004 reports 298,084 trainable parameters at 48x48x3 with 4 classes. Its exact layer list is not
    available to us; these widths are the ones (of a search over common widths) that give exactly that count.
    """
    layers = [
        *_conv_block(1, 8, 3, bn=True), _pool("pool1"),
        Layer("residual", "res1", units=16, kernel=3),
        Layer("residual", "res2", units=96, kernel=3, stride=2),
        Layer("residual", "res3", units=96, kernel=3, stride=2),
        Layer("gap", "gap"),
        *_dense_block(2, 192, 0.3),
    ]
    return ModelSpec(input_shape, classes, layers, name="resnet_like")


def embedded3(input_shape=DEFAULT_INPUT, classes: int = 2) -> ModelSpec:
    """The cs231n study's final embedded net: 3 convs (the first with a large stride), 3 max-pools, 1 BN, 1 dense."""
    layers = [
        *_conv_block(1, 8, 5, stride=3, bn=True), _pool("pool1"),
        *_conv_block(2, 16, 3), _pool("pool2"),
        *_conv_block(3, 32, 3), _pool("pool3"),
        Layer("flatten", "flatten"),
        Layer("dropout", "drop", rate=0.3),
    ]
    return ModelSpec(input_shape, classes, layers, name="embedded3")


# --- sensor windows: a window of T samples x C channels is the image (T, 1, C) (models/temporal.py) -----------------
WINDOW_INPUT = (20, 1, 4)  # 5 s at 4 Hz of BVP, EDA, TEMP, HR: compress.data.signals.CHANNELS' order
SENSORS = ("bvp", "eda", "temp", "hr")


def fusion_cnn(input_shape=WINDOW_INPUT, classes: int = 2) -> ModelSpec:
    """Early fusion (Muenzner et al., ISWC 2017): every channel stacked into one input, three 1-D convs (k5 x 1)."""
    layers = [*_conv_block(1, 64, 5, bn=True), *_conv_block(2, 64, 5, bn=True), *_conv_block(3, 64, 5, bn=True),
              _pool("pool1"), Layer("flatten", "flatten"), *_dense_block(4, 128, 0.5)]
    return ModelSpec(input_shape, classes, layers, name="fusion_cnn")


def fusion_late(input_shape=WINDOW_INPUT, classes: int = 2) -> ModelSpec:
    """Sensor-based late fusion (ISWC 2017): one two-conv branch per sensor, concatenated before the dense head."""
    channels = input_shape[2]
    names = SENSORS if channels == len(SENSORS) else tuple(f"ch{c}" for c in range(channels))
    layers = []
    for c, s in enumerate(names):
        layers += [Layer("select", f"{s}_in", pads=(c, c + 1), inputs=("input",)),
                   Layer("conv", f"{s}_conv1", units=32, kernel=5), Layer("bn", f"{s}_bn1"), Layer("relu", f"{s}_relu1"),
                   Layer("conv", f"{s}_conv2", units=32, kernel=5), Layer("relu", f"{s}_relu2"),
                   Layer("maxpool", f"{s}_pool", kernel=2, stride=2, padding="valid")]
    layers += [Layer("concat", "fusion", inputs=tuple(f"{s}_pool" for s in names)), Layer("flatten", "flatten"),
               *_dense_block(3, 128, 0.5)]
    return ModelSpec(input_shape, classes, layers, name="fusion_late")


def fusion_channels(input_shape=WINDOW_INPUT, classes: int = 2) -> ModelSpec:
    """Channel-based late fusion (ISWC 2017): every input channel convolved by its own filters, no channel mixing
    before the fusion point (the flatten feeding the dense head), written as depthwise temporal convolutions.

    dw1 gives each channel 32 filters of its own (k5 x 1, depth multiplier 32: outputs c*32 ... c*32+31 come from
    channel c alone), dw2 filters each of those maps again by itself (k5 x 1, multiplier 1); only fc3 sees every
    channel. One DEPTHWISE_CONV_2D op per layer runs every channel, where fusion_late needs a select (TRANSPOSE +
    STRIDED_SLICE), its own convs and a CONCATENATION per branch. How it differs from fusion_late (sensor-based):
    a sensor with several channels (an accelerometer's x, y, z) gets one branch there and one filter bank per
    channel here; with one channel per sensor (this project's data) the grouping is the same and the difference is
    the branch itself: fusion_late's two full convs mix a branch's 32 maps, dw2 never does.
    """
    layers = [Layer("dwconv", "dw1", units=32, kernel=5), Layer("bn", "bn1"), Layer("relu", "relu1"),
              Layer("dwconv", "dw2", kernel=5), Layer("bn", "bn2"), Layer("relu", "relu2"),
              _pool("pool1"), Layer("flatten", "flatten"), *_dense_block(3, 128, 0.5)]
    return ModelSpec(input_shape, classes, layers, name="fusion_channels")


def lstm(input_shape=WINDOW_INPUT, classes: int = 2) -> ModelSpec:
    """An LSTM over the BVP window (the input's first channel) returning its last state, then dropout."""
    layers = [Layer("select", "bvp_in", pads=(0, 1)), Layer("lstm", "lstm", units=64),
              Layer("dropout", "drop", rate=0.3)]
    return ModelSpec(input_shape, classes, layers, name="lstm")


# --- several tasks from one trunk: one head per task (ModelSpec.tasks) ----------------------------------------------
TASKS = ("arousal", "dominance", "valence")
MULTITASK_INPUT = (20, 1, 8)  # 5 s at 4 Hz of 8 sensor channels (compress.data.multitask)


def multitask_cnn(input_shape=MULTITASK_INPUT, classes: int = 2, tasks=TASKS) -> ModelSpec:
    """A shared 1-D CNN trunk (three k5 x 1 convs, as fusion_cnn) and per task a small dense layer and its head:
    the hard-parameter-sharing design of multi-task learning (Caruana 1997; Ruder 2017), one loss per task."""
    layers = [*_conv_block(1, 64, 5, bn=True), *_conv_block(2, 64, 5, bn=True), *_conv_block(3, 64, 5, bn=True),
              _pool("pool1"), Layer("flatten", "flatten"), *_dense_block(4, 128, 0.5)]
    tasks = tuple(tasks)
    for task in tasks or ("task",):
        layers += [Layer("dense", f"{task}_fc", units=32, inputs=("fc4_drop",)), Layer("relu", f"{task}_relu")]
    if len(tasks) < 2:  # one task: the same trunk and head, as the single-task rival of a multi-task model
        return ModelSpec(input_shape, classes, layers, name="multitask_cnn")
    return ModelSpec(input_shape, classes, layers, name="multitask_cnn", tasks=tasks,
                     heads=tuple(f"{t}_relu" for t in tasks))


def with_tasks(spec: ModelSpec, tasks) -> ModelSpec:
    """A single-head spec with one head per task, each reading the layer its single head read (any baseline,
    a user's own included, can learn several tasks); a multi-task spec must name the same tasks."""
    from compress import CompressError

    tasks = tuple(tasks)
    if spec.tasks:
        if set(spec.tasks) != set(tasks):
            raise CompressError(f"baseline {spec.name or 'spec'} predicts {', '.join(spec.tasks)}, the data "
                                f"labels {', '.join(tasks)}; choose --tasks to match")
        return spec
    if not spec.head:
        raise CompressError(f"baseline {spec.name or 'spec'} ends in its own class layer, so it cannot take one head "
                            "per task; use a baseline with a dense head (e.g. multitask_cnn)")
    last = spec.layers[-1].name
    return spec.replace(tasks=tasks, heads=(last,) * len(tasks))


ZOO = {"alexnet": alexnet, "fer_cnn": fer_cnn, "resnet_like": resnet_like, "embedded3": embedded3,
       "fusion_cnn": fusion_cnn, "fusion_late": fusion_late,
       "fusion_channels": fusion_channels, "lstm": lstm, "multitask_cnn": multitask_cnn}


def get(name: str, input_shape=None, classes: int | None = None, tasks=None) -> ModelSpec:
    """A zoo baseline by name; input shape and classes default to the baseline's own; tasks: one head each."""
    if name not in ZOO:
        raise KeyError(f"unknown baseline {name!r}; choose one of: {', '.join(ZOO)}")
    kwargs = {}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    if classes is not None:
        kwargs["classes"] = classes
    if name == "multitask_cnn" and tasks is not None:
        kwargs["tasks"] = tuple(tasks)
    spec = ZOO[name](**kwargs)
    return with_tasks(spec, tasks) if tasks else spec


def load_spec(source: str, input_shape=None, classes: int | None = None, tasks=None) -> ModelSpec:
    """A baseline from a zoo name or a spec .json file (as written by a run: best_spec.json, spec in the journal)."""
    from pathlib import Path

    from compress import CompressError

    if source in ZOO:
        return get(source, input_shape, classes, tasks)
    path = Path(source)
    if path.suffix != ".json":
        raise CompressError(f"{source}: not a zoo baseline ({', '.join(ZOO)}) nor a spec .json file")
    try:
        spec = ModelSpec.from_json(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise CompressError(f"{source}: no such file") from None
    except ValueError as exc:
        raise CompressError(f"{source}: not a valid spec: {exc}") from None
    changes = {}
    if input_shape is not None:
        changes["input_shape"] = tuple(input_shape)
    if classes is not None:
        changes["classes"] = classes
    spec = spec.replace(**changes) if changes else spec
    return with_tasks(spec, tasks) if tasks else spec
