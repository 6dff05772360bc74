"""Arduino sketch generation: resolver, measured arena, TFLM vs TFLite, refusals, SRAM check, determinism, CLI."""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from compress import CompressError
from compress import cli
from compress.deploy import c_arrays
from compress.deploy import export
from compress.deploy import firmware
from compress.deploy import tflm
from compress.models import tflite_io

EMBEDDED3_OPS = ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]


@pytest.fixture(scope="session")
def sketch(exported, tmp_path_factory):
    """The shared model's sketch, with the export's test image: (folder, result)."""
    src, _ = exported
    with np.load(src / export.TEST_INPUT_FILE) as npz:
        image, label = npz["x"], int(npz["label"])
    out = tmp_path_factory.mktemp("fw") / "blobs_apollo3"
    result = firmware.generate_sketch(src / export.MODEL_FILE, out, test_image=image, expected_class=label,
                                      class_names=["dim", "bright"], expected_latency_s=0.012)
    return out, result


def _convert(model, x, int8=True) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([img[None]] for img in x)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def _small_model(input_shape, filters, activation="relu"):
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation=activation)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


# --- the generated sketch ----------------------------------------------------------------------------

def test_sketch_has_every_file_and_records_its_figures(sketch, exported):
    out, result = sketch
    assert sorted(p.name for p in out.iterdir()) == result["files"] == sorted(
        ["blobs_apollo3.ino", "tflm_platform.cpp", "model_data.h", "model_data.cpp", "test_image.h", "README.md",
         "firmware.json"])
    assert json.loads((out / "firmware.json").read_text()) == {k: v for k, v in result.items() if k != "sketch_dir"}
    assert result["model_bytes"] == exported[1]["model_bytes"] and result["passed"] and result["self_test_passed"]
    readme = (out / "README.md").read_text()
    for needle in ("SparkFun:apollo3:sfe_edge", "SparkFun:apollo3:sfe_artemis", "arduino-cli core install",
                   "package_sparkfun_apollo3_index.json", "tflite-micro-arduino-examples", "arduino-cli upload",
                   "0.012 s", "predicted: ", "PASS"):
        assert needle in readme, needle
    assert "$" not in readme.replace("$PWD", "")  # every template field was filled


def test_model_data_in_the_sketch_is_the_tflite(sketch, exported):
    out, _ = sketch
    source = (out / "model_data.cpp").read_text()
    assert c_arrays.parse_c_array(source) == (exported[0] / export.MODEL_FILE).read_bytes()
    assert "g_blobs_apollo3_model_data" in source and "g_blobs_apollo3_model_data" in (out / "blobs_apollo3.ino"
                                                                                         ).read_text()


def test_resolver_registers_exactly_the_models_ops(sketch, exported):
    out, result = sketch
    ino = (out / "blobs_apollo3.ino").read_text()
    ops = tflite_io.tflite_info((exported[0] / export.MODEL_FILE).read_bytes())["ops"]
    assert ops == result["ops"] == EMBEDDED3_OPS
    assert re.findall(r"resolver\.(Add\w+)\(\)", ino) == ["AddConv2D", "AddMaxPool2D", "AddReshape",
                                                           "AddFullyConnected", "AddSoftmax"]
    assert re.findall(r"MicroMutableOpResolver<(\d+)>", ino) == [str(len(ops))]


@pytest.mark.parametrize("op, method", [
    ("CONV_2D", "AddConv2D"), ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"), ("AVERAGE_POOL_2D", "AddAveragePool2D"),
    ("FULLY_CONNECTED", "AddFullyConnected"), ("MEAN", "AddMean"), ("ADD", "AddAdd"), ("PADV2", "AddPadV2"),
    ("CUMSUM", "AddCumSum"), ("L2_NORMALIZATION", "AddL2Normalization"), ("REVERSE_V2", "AddReverseV2"),
    ("BATCH_MATMUL", "AddBatchMatMul"), ("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM"),
    ("BATCH_TO_SPACE_ND", "AddBatchToSpaceNd"), ("RELU6", "AddRelu6"),
])
def test_resolver_method_names_follow_tflm(op, method):
    assert op in firmware.TFLM_OPS and firmware.resolver_method(op) == method


def test_arena_is_the_smallest_that_allocates(sketch, exported):
    _, result = sketch
    tflite = (exported[0] / export.MODEL_FILE).read_bytes()
    arena = result["arena_measured_bytes"]
    assert arena % 16 == 0 and arena == tflm.measure_arena_bytes(tflite)
    assert tflm.arena_allocates(tflite, arena) and not tflm.arena_allocates(tflite, arena - 16)
    assert result["arena_bytes"] == firmware.arena_with_margin(arena) >= arena + firmware.ARENA_MARGIN_MIN_BYTES
    assert f"constexpr int kTensorArenaSize = {result['arena_bytes']};" in (
        sketch[0] / "blobs_apollo3.ino").read_text()


def test_tflm_matches_the_tflite_interpreter(exported, blob_data):
    out, report = exported
    tflite = (out / export.MODEL_FILE).read_bytes()
    x = export.quantize(blob_data.x_test[:40], report["input"]["scale"], report["input"]["zero_point"])
    micro, lite = tflm.run_tflm(tflite, x), export.run_tflite(tflite, x)
    assert micro.shape == lite.shape == (40, 2) and micro.dtype == np.int8
    assert np.abs(micro.astype(int) - lite.astype(int)).max() <= 1  # within one quantization step
    assert (micro.argmax(1) == lite.argmax(1)).mean() >= 0.95


def test_built_in_image_and_expected_class(sketch, exported):
    out, result = sketch
    with np.load(exported[0] / export.TEST_INPUT_FILE) as npz:
        image, label = npz["x"], int(npz["label"])
    tflite = (exported[0] / export.MODEL_FILE).read_bytes()
    assert tflm.run_tflm(tflite, image)[0].argmax() == label == result["expected_class"]
    header = (out / "test_image.h").read_text()
    assert f"constexpr int kExpectedClass = {label};" in header
    values = [int(v) for v in re.findall(r"-?\d+", header.split("kTestImage[kTestImageBytes] = {")[1])]
    np.testing.assert_array_equal(values, image.reshape(-1))


# --- the C++ compiles (against small stand-ins for Arduino.h and the TFLM headers) ---------------------

_STUBS = {
    "Arduino.h": """#pragma once
#include <stddef.h>
#include <stdint.h>
unsigned long millis(); unsigned long micros(); void delay(unsigned long ms);
struct SerialPort {
  void begin(unsigned long baud); operator bool() const;
  size_t print(const char*); size_t print(char); size_t print(int, int = 10); size_t print(unsigned int, int = 10);
  size_t print(long, int = 10); size_t print(unsigned long, int = 10); size_t print(double, int = 2);
  size_t println(); size_t println(const char*); size_t println(int, int = 10);
  size_t println(unsigned long, int = 10); size_t println(double, int = 2);
};
extern SerialPort Serial;
""",
    "tensorflow/lite/schema/schema_generated.h": "#pragma once\n#define TFLITE_SCHEMA_VERSION (3)\n",
    "tensorflow/lite/micro/system_setup.h": "#pragma once\nnamespace tflite { void InitializeTarget(); }\n",
    "tensorflow/lite/micro/micro_interpreter.h": """#pragma once
#include <stddef.h>
#include <stdint.h>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteFloat32 = 1, kTfLiteInt8 = 9 } TfLiteType;
typedef struct { float scale; int32_t zero_point; } TfLiteQuantizationParams;
typedef union { int8_t* int8; uint8_t* uint8; float* f; } TfLitePtrUnion;
typedef struct { TfLiteType type; TfLitePtrUnion data; TfLiteQuantizationParams params; size_t bytes; } TfLiteTensor;
namespace tflite {
struct Model { uint32_t version() const; };
const Model* GetModel(const void* buffer);
class MicroOpResolver { public: virtual ~MicroOpResolver() {} };
class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& resolver, uint8_t* arena, size_t arena_size);
  TfLiteStatus AllocateTensors(); TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index); TfLiteTensor* output(size_t index); size_t arena_used_bytes() const;
};
}  // namespace tflite
""",
}


def _stub_tree(root, debuglog_takes_string: bool):
    methods = "\n".join(f"  TfLiteStatus {firmware.resolver_method(op)}();" for op in sorted(firmware.TFLM_OPS))
    files = dict(_STUBS)
    files["tensorflow/lite/micro/micro_mutable_op_resolver.h"] = (
        '#pragma once\n#include "tensorflow/lite/micro/micro_interpreter.h"\nnamespace tflite {\n'
        "template <unsigned int N> class MicroMutableOpResolver : public MicroOpResolver {\n public:\n"
        f"{methods}\n}};\n"
        "}  // namespace tflite\n")
    if debuglog_takes_string:  # TFLM before June 2023
        files["tensorflow/lite/micro/debug_log.h"] = 'extern "C" void DebugLog(const char* s);\n'
        files["tensorflow/lite/micro/micro_string.h"] = "#pragma once\n"
    else:
        files["tensorflow/lite/micro/debug_log.h"] = (
            '#include <stdarg.h>\n#include <stddef.h>\nextern "C" {\nvoid DebugLog(const char* format, va_list args);\n'
            "int DebugLogVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist);\n}\n")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize("compiler, flags", [
    ("g++", []),
    ("arm-none-eabi-g++", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]),
])
@pytest.mark.parametrize("old_debuglog", [False, True])
def test_sketch_sources_compile(sketch, tmp_path, compiler, flags, old_debuglog):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    out, _ = sketch
    _stub_tree(tmp_path, old_debuglog)
    common = [compiler, *flags, "-std=gnu++17", "-Wall", "-Werror", "-fsyntax-only", f"-I{tmp_path}", f"-I{out}"]
    for source, extra in (("blobs_apollo3.ino", ["-x", "c++"]), ("tflm_platform.cpp", []), ("model_data.cpp", [])):
        done = subprocess.run([*common, *extra, str(out / source)], capture_output=True, text=True)
        assert done.returncode == 0, f"{source}:\n{done.stderr}"


# --- refusals, limits, determinism ----------------------------------------------------------------------

def test_float_model_is_refused_before_writing(trained_model, tmp_path):
    path = tmp_path / "float.tflite"
    path.write_bytes(_convert(trained_model, None, int8=False))
    with pytest.raises(CompressError, match="float32/float32.*int8"):
        firmware.generate_sketch(path, tmp_path / "float_apollo3")
    assert not (tmp_path / "float_apollo3").exists()


def test_op_without_tflm_kernel_is_refused_before_writing(tmp_path):
    """GELU: a TFLite int8 builtin that TFLM has no kernel for (TFLM does have CUMSUM, so that would not do)."""
    x = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)
    tflite = _convert(_small_model((8, 8, 1), 4, activation="gelu"), x)
    assert "GELU" in tflite_io.tflite_info(tflite)["ops"]
    with pytest.raises(CompressError, match="cannot load"):  # the real TFLM agrees: it has no GELU
        tflm.run_tflm(tflite, np.zeros((1, 8, 8, 1), np.int8))
    path = tmp_path / "gelu.tflite"
    path.write_bytes(tflite)
    with pytest.raises(CompressError, match="no kernel for GELU"):
        firmware.generate_sketch(path, tmp_path / "gelu_apollo3")
    assert not (tmp_path / "gelu_apollo3").exists()


def test_arena_larger_than_sram_is_reported_as_fail(tmp_path, capsys):
    """A 160x160x3 input through 16 filters: a 409,600-byte activation, more than the core's 393,216 bytes."""
    x = np.random.default_rng(0).random((4, 160, 160, 3), dtype=np.float32)
    path = tmp_path / "big.tflite"
    path.write_bytes(_convert(_small_model((160, 160, 3), 16), x))
    assert cli.main(["firmware", str(path), "--out", str(tmp_path / "big_apollo3")]) == 1
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "big_apollo3" / "firmware.json").read_text())
    arena = next(c for c in result["checks"] if c["target"] == "arena")
    assert not result["passed"] and not arena["passed"] and arena["limit"] == 393_216
    assert arena["measured"] == result["arena_bytes"] > result["arena_measured_bytes"] > 409_600
    assert arena["figure"] == arena["measured"] + arena["allowance"]
    assert f"{arena['measured']:,} + {arena['allowance']:,} = {arena['figure']:,} of 393,216 bytes: FAIL" in printed
    assert f"= {arena['figure']:,} | 393,216 | FAIL |" in (tmp_path / "big_apollo3" / "README.md").read_text()


def test_unusable_sketch_name_and_board_are_refused(exported, tmp_path):
    model = exported[0] / export.MODEL_FILE
    with pytest.raises(CompressError, match="sketch name"):
        firmware.generate_sketch(model, tmp_path / "my sketch")
    with pytest.raises(CompressError, match="unknown board"):
        firmware.generate_sketch(model, tmp_path / "x", board="esp32")
    assert list(tmp_path.iterdir()) == []


def test_generation_is_byte_for_byte_reproducible(exported, tmp_path):
    """Two runs into different parents give identical files; without a test image the sketch uses real zeros."""
    model = exported[0] / export.MODEL_FILE
    a = firmware.generate_sketch(model, tmp_path / "a" / "same_name")
    b = firmware.generate_sketch(model, tmp_path / "b" / "same_name")
    assert a["files"] == b["files"]
    for name in a["files"]:
        assert (tmp_path / "a" / "same_name" / name).read_bytes() == (tmp_path / "b" / "same_name" / name).read_bytes()
    header = (tmp_path / "a" / "same_name" / "test_image.h").read_text()
    zero_point = exported[1]["input"]["zero_point"]
    assert "all-zero image" in header and f"{zero_point:4d}," in header
    assert a["expected_class"] == a["tflm_predicted_class"]  # no expected class given: TFLM's own answer


# --- CLI -------------------------------------------------------------------------------------------------

def test_cli_firmware_uses_the_exports_test_input(exported, tmp_path, monkeypatch, capsys):
    src, report = exported
    monkeypatch.chdir(tmp_path)
    assert cli.main(["firmware", str(src / export.MODEL_FILE)]) == 0
    out = tmp_path / "firmware" / "model_int8_apollo3"  # the default folder: firmware/<stem>_<board>
    result = json.loads((out / "firmware.json").read_text())
    with np.load(src / export.TEST_INPUT_FILE) as npz:
        assert result["expected_class"] == int(npz["label"])
    assert result["class_names"] == report["class_names"] and result["self_test_passed"]
    assert '{"dim", "bright"}' in (out / "model_int8_apollo3.ino").read_text()
    printed = capsys.readouterr().out
    assert "arena: tensor arena + runtime allowance" in printed and "FAIL" not in printed


def test_cli_firmware_refuses_a_non_tflite(tmp_path, capsys):
    (tmp_path / "m.keras").write_text("x")
    assert cli.main(["firmware", str(tmp_path / "m.keras")]) == 2
    assert "expected an int8 .tflite" in capsys.readouterr().err
