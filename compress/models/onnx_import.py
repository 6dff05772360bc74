"""An ONNX classifier (what torch.onnx.export writes) -> ModelSpec plus weights, NCHW converted to NHWC.

Needs `compress-mcu[onnx]`; onnx parses the file (protobuf: data, no code). Nodes, in order: Conv (group = channels:
depthwise), Gemm / MatMul (+ a constant Add: its bias), Relu, Clip(0, 6), MaxPool, AveragePool, GlobalAveragePool,
BatchNormalization, Add, Concat (channels), Flatten / Reshape(N, -1) before a Gemm, Softmax at the output, Dropout /
Identity (no-ops). Pads equal to Keras' "same" become it, others a ZeroPadding2D before a "valid" window; a
flattened feature map's Gemm has its rows permuted from CHW to HWC. Anything else: one line naming the node and op.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.models.graph import output_shape
from compress.models.keras_import import SOFTMAX, finish_spec, spec_name
from compress.models.onnx_ops import HANDLERS, SUPPORTED_OPS, constant, same_pads
from compress.models.spec import INPUT_NAME, Layer, SpecError


def import_onnx(path) -> tuple:
    """(spec, weights by spec layer name) of an .onnx classifier; CompressError (one line) if it cannot be."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise CompressError(f"{path}: ONNX files need the onnx extra: pip install 'compress-mcu[onnx]'") from None
    p = Path(path)
    if not p.is_file():
        raise CompressError(f"{path}: no such file")
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # protobuf's DecodeError and friends: the user gets one line
        raise CompressError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    g = _Graph(str(path), consts, numpy_helper)
    g.start(model.graph)
    for i, node in enumerate(model.graph.node):
        g.visit(node, i)
    if len(model.graph.output) != 1:
        raise CompressError(f"{path}: has {len(model.graph.output)} outputs; a classifier has one")
    output = g.names.get(model.graph.output[0].name, "?")
    out_shape = g.shapes.get(output.removeprefix(SOFTMAX), ())
    if len(out_shape) != 1 or out_shape[0] < 2:
        raise CompressError(f"{path}: its output {out_shape} is not a classifier (needs one score per class)")
    return finish_spec(re.sub(r"\W", "_", p.stem) or "model", out_shape, str(path), g.input_shape, g.layers,
                       g.weights, output)


class _Graph:
    """The spec being built: ONNX tensor -> spec layer name, spec layer -> shape (NHWC, no batch)."""

    def __init__(self, path: str, consts: dict, numpy_helper):
        self.path, self.consts, self.numpy_helper = path, consts, numpy_helper
        self.layers, self.weights, self.names, self.shapes = [], {}, {}, {}
        self.chw = {}  # spec name of a flattened feature map -> its (h, w, c): a Gemm reading it permutes rows

    def start(self, graph) -> None:
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise CompressError(f"{self.path}: has {len(inputs)} inputs; only single-input image models are supported")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or any(d is None or d < 1 for d in dims[1:]):
            raise CompressError(f"{self.path}: input shape {dims} is not a fixed N x C x H x W image")
        self.input_shape = (dims[2], dims[3], dims[1])  # N, C, H, W -> H, W, C
        self.names[inputs[0].name] = INPUT_NAME
        self.readers = Counter(i for node in graph.node for i in node.input)
        self.readers.update(o.name for o in graph.output)
        self.shapes[INPUT_NAME] = self.input_shape

    def refuse(self, node, why: str):
        raise CompressError(f"{self.path}: node {node.name or f'#{self.index}'!r} ({node.op_type}): {why}")

    def visit(self, node, index: int) -> None:
        self.index = index
        if node.op_type == "Constant":
            self.consts[node.output[0]] = constant(node, self.numpy_helper)
            if self.consts[node.output[0]] is None:
                self.refuse(node, "only a tensor, float(s) or int(s) value")
            return
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            self.refuse(node, f"op {node.op_type} is not supported (supported: {', '.join(SUPPORTED_OPS)})")
        self.names[node.output[0]] = handler(self, node)

    def source(self, node, i: int = 0, flat_ok: bool = False) -> str:
        name = self.names.get(node.input[i])
        if name is None:
            self.refuse(node, f"input {node.input[i]!r} is a constant or unknown; only computed tensors are supported")
        if name.startswith(SOFTMAX):
            self.refuse(node, "reads a softmax; softmax is supported at the output only")
        if name in self.chw and not flat_ok:
            self.refuse(node, "reads a flattened feature map; Flatten / Reshape is supported before a Gemm only")
        return name

    def const(self, node, i: int) -> np.ndarray | None:
        if len(node.input) <= i or not node.input[i]:
            return None
        if node.input[i] not in self.consts:
            self.refuse(node, f"input {node.input[i]!r} must be a constant (an initializer)")
        return self.consts[node.input[i]]

    def add(self, node, kind: str, sources: tuple, values=None, **fields) -> str:
        stem = re.sub(r"\W+", "_", node.name).strip("_") or f"{kind}{self.index}"
        layer = Layer(kind, spec_name(stem, self.layers), inputs=sources, **fields)
        try:
            self.shapes[layer.name] = output_shape(layer, [self.shapes[s] for s in sources])
        except SpecError as exc:
            self.refuse(node, str(exc))
        self.layers.append(layer)
        if values is not None:
            self.weights[layer.name] = [np.asarray(v, np.float32) for v in values]
        return layer.name

    def padded(self, node, src: str, pads: tuple, k: int, s: int, zeros_ok: bool = True) -> tuple:
        """("same" | "valid", the source to read): ONNX pads (top, bottom, left, right) as Keras padding."""
        h, w, _ = self.image(node, src)
        if pads == same_pads(h, k, s) + same_pads(w, k, s):
            return "same", src
        if not any(pads):
            return "valid", src
        if not zeros_ok:
            self.refuse(node, f"pads {pads} are neither none nor Keras' 'same'")
        return "valid", self.add(node, "zeropad", (src,), pads=pads)

    def image(self, node, src: str) -> tuple:
        if len(self.shapes[src]) != 3:
            self.refuse(node, f"needs an image input, got shape {self.shapes[src]}")
        return self.shapes[src]
