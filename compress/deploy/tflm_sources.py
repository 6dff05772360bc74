"""Which TFLite Micro sources a model needs: the framework every program links, and each builtin op's kernel files.
tflm_build compiles them; the lists live here so the build module stays about building."""

# The framework: interpreter, allocator, planner, flatbuffer parsing, shared kernel helpers.
FRAMEWORK = [
    "tensorflow/compiler/mlir/lite/core/api/error_reporter.cc", "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
    "tensorflow/lite/core/api/flatbuffer_conversions.cc", "tensorflow/lite/core/api/tensor_utils.cc",
    "tensorflow/lite/core/c/common.cc", "tensorflow/lite/kernels/kernel_util.cc",
    "tensorflow/lite/kernels/internal/common.cc", "tensorflow/lite/kernels/internal/portable_tensor_utils.cc",
    "tensorflow/lite/kernels/internal/quantization_util.cc", "tensorflow/lite/kernels/internal/tensor_utils.cc",
    "tensorflow/lite/kernels/internal/runtime_shape.cc", "tensorflow/lite/kernels/internal/tensor_ctypes.cc",
    "tensorflow/lite/micro/arena_allocator/non_persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/linear_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/non_persistent_buffer_planner_shim.cc",
    "tensorflow/lite/micro/tflite_bridge/flatbuffer_conversions_bridge.cc",
    "tensorflow/lite/micro/tflite_bridge/micro_error_reporter.cc",
    "tensorflow/lite/micro/flatbuffer_utils.cc", "tensorflow/lite/micro/memory_helpers.cc",
    "tensorflow/lite/micro/micro_allocation_info.cc", "tensorflow/lite/micro/micro_allocator.cc",
    "tensorflow/lite/micro/micro_context.cc", "tensorflow/lite/micro/micro_interpreter.cc",
    "tensorflow/lite/micro/micro_interpreter_context.cc", "tensorflow/lite/micro/micro_interpreter_graph.cc",
    "tensorflow/lite/micro/micro_log.cc", "tensorflow/lite/micro/micro_op_resolver.cc",
    "tensorflow/lite/micro/micro_resource_variable.cc", "tensorflow/lite/micro/micro_utils.cc",
    "tensorflow/lite/micro/system_setup.cc", "tensorflow/lite/micro/kernels/kernel_util.cc",
]
# Builtin op -> kernel file stems under tensorflow/lite/micro/kernels/ (each also as <stem>_common.cc and, in a
# CMSIS-NN tree, cmsis_nn/<stem>.cc, where those exist). Ops not listed: the op's name in lower case. Depthwise
# needs conv's too: depthwise_conv_common.cc reads the tensor indices conv_common.cc defines.
OP_STEMS = {"CONV_2D": ["conv"], "DEPTHWISE_CONV_2D": ["depthwise_conv", "conv"], "MAX_POOL_2D": ["pooling"],
            "AVERAGE_POOL_2D": ["pooling"], "MEAN": ["reduce"], "SUM": ["reduce"], "REDUCE_MAX": ["reduce"],
            "RELU": ["activations"], "RELU6": ["activations"], "PADV2": ["pad"], "MAXIMUM": ["maximum_minimum"],
            "MINIMUM": ["maximum_minimum"], "ABS": ["elementwise"], "SQRT": ["elementwise"], "RSQRT": ["elementwise"],
            "SIN": ["elementwise"], "COS": ["elementwise"], "LOG": ["elementwise"], "SQUARE": ["elementwise"],
            "LOGICAL_NOT": ["elementwise"], "EQUAL": ["comparisons"], "NOT_EQUAL": ["comparisons"],
            "GREATER": ["comparisons"], "GREATER_EQUAL": ["comparisons"], "LESS": ["comparisons"],
            "LESS_EQUAL": ["comparisons"], "LOGICAL_AND": ["logical"], "LOGICAL_OR": ["logical"],
            "ARG_MAX": ["arg_min_max"], "ARG_MIN": ["arg_min_max"], "REVERSE_V2": ["reverse"],
            "SELECT_V2": ["select"], "UNIDIRECTIONAL_SEQUENCE_LSTM": ["unidirectional_sequence_lstm", "lstm_eval"]}
# What the runner registers: every op compress's models produce, so one runner binary runs them all.
RUNNER_OPS = ("ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
              "FULLY_CONNECTED", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "QUANTIZE", "RELU", "RELU6",
              "RESHAPE", "SOFTMAX", "TANH")
