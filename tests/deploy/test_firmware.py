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
from compress.devices import profiles
from compress.models import tflite_io

EMBEDDED3_OPS = ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]


@pytest.fixture(scope="session")
def sketch(exported, tmp_path_factory):
    """The shared model's sketch, with the export's test image: (folder, result)."""
    src, _ = exported
    with np.load(src / export.TEST_INPUT_FILE) as npz:
        image, label = npz["x"], int(npz["label"])
    out = tmp_path_factory.mktemp("fw") / "blobs_apollo3"
    config = firmware.SketchConfig(test_image=image, expected_class=label, class_names=["dim", "bright"],
                                   expected_latency_s=0.012)
    result = firmware.generate_sketch(src / export.MODEL_FILE, out, config)
    return out, result


@pytest.fixture(scope="session")
def boards(exported, tmp_path_factory):
    """The shared model for the other boards: {name: (folder, result)}; "generic" for its default device (the
    Cortex-M7 stm32f746), "generic_m4" for apollo3's Cortex-M4F."""
    src, _ = exported
    with np.load(src / export.TEST_INPUT_FILE) as npz:
        image, label = npz["x"], int(npz["label"])
    root = tmp_path_factory.mktemp("boards")
    made = {}
    for name, board, device in (("nano33ble", "nano33ble", None), ("generic", "generic", None),
                                ("generic_m4", "generic", "apollo3")):
        out = root / name / f"blobs_{board}"
        config = firmware.SketchConfig(board=board, device=device, test_image=image, expected_class=label,
                                       class_names=["dim", "bright"], expected_latency_s=0.02)
        made[name] = out, firmware.generate_sketch(src / export.MODEL_FILE, out, config)
    return made


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
                   "12.0 ms", "predicted: ", "PASS"):
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


@pytest.mark.parametrize("compiler, flags", [
    ("g++", []),
    ("arm-none-eabi-g++", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]),
])
def test_nano33ble_and_generic_sources_compile(boards, tmp_path, compiler, flags):
    """Against the stand-in headers: the Nano sketch with the library's umbrella header, the generic library's C++,
    and model_runner.h from plain C (its API is extern "C")."""
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    _stub_tree(tmp_path, False)
    (tmp_path / "TensorFlowLite.h").write_text("#pragma once\n")
    nano, generic = boards["nano33ble"][0], boards["generic"][0]
    (tmp_path / "use.c").write_text('#include "model_runner.h"\nint main(void) { return model_runner_init(0); }\n')
    common = [compiler, *flags, "-Wall", "-Werror", "-fsyntax-only", f"-I{tmp_path}"]
    for folder, source, extra in ((nano, "blobs_nano33ble.ino", ["-x", "c++"]), (nano, "model_data.cpp", []),
                                  (generic, "model_runner.cc", []), (generic, "model_data.cc", []),
                                  (generic, "selftest_main.cc", [])):
        done = subprocess.run([*common, "-std=gnu++17", f"-I{folder}", *extra, str(folder / source)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{source}:\n{done.stderr}"
    c_compiler = compiler.replace("g++", "gcc")
    done = subprocess.run([c_compiler, *common[1:], "-std=c99", f"-I{generic}", str(tmp_path / "use.c")],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"model_runner.h from C:\n{done.stderr}"


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
        firmware.generate_sketch(model, tmp_path / "x", firmware.SketchConfig(board="esp32"))
    with pytest.raises(CompressError, match="board apollo3 is for device apollo3, not nano33ble"):
        firmware.generate_sketch(model, tmp_path / "x", firmware.SketchConfig(board="apollo3", device="nano33ble"))
    with pytest.raises(CompressError, match="unknown device"):
        firmware.generate_sketch(model, tmp_path / "x", firmware.SketchConfig(board="generic", device="esp32"))
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


# --- the other boards -------------------------------------------------------------------------------------

def test_nano33ble_sketch_uses_the_official_library(boards):
    out, result = boards["nano33ble"]
    assert result["files"] == sorted(["blobs_nano33ble.ino", "model_data.h", "model_data.cpp", "test_image.h",
                                      "README.md", "firmware.json"])  # the library brings DebugLog, InitializeTarget
    ino = (out / "blobs_nano33ble.ino").read_text()
    assert ino.index("#include <TensorFlowLite.h>") < ino.index('#include "tensorflow/lite/micro/')
    assert "tflite::InitializeTarget();" in ino and "DebugLog" not in ino.split("#include <TensorFlowLite.h>")[1]
    readme = (out / "README.md").read_text()
    for needle in ("arduino:mbed_nano:nano33ble", "arduino-cli core install arduino:mbed_nano", "Arduino_TensorFlowLite",
                   "git clone --depth 1 https://github.com/tensorflow/tflite-micro-arduino-examples",
                   "arduino-cli upload -p /dev/ttyACM0 --fqbn arduino:mbed_nano:nano33ble blobs_nano33ble",
                   "decision: bright if score >="):
        assert needle in readme, needle
    assert "rm -rf" not in readme and "$" not in readme
    assert [(c["target"], c["limit"]) for c in result["checks"]] == [("flash", 983_040), ("arena", 262_144)]


def test_generic_library_has_a_runner_its_resolver_and_a_cmake_project(boards, exported):
    out, result = boards["generic"]
    assert result["files"] == sorted(["model_runner.h", "model_runner.cc", "model_ops.h", "model_data.h",
                                      "model_data.cc", "test_image.h", "selftest_main.cc", "CMakeLists.txt",
                                      "arm-none-eabi.cmake", "README.md", "firmware.json"])
    assert c_arrays.parse_c_array((out / "model_data.cc").read_text()) == (exported[0] / export.MODEL_FILE).read_bytes()
    ops = (out / "model_ops.h").read_text()
    assert re.findall(r"resolver\.(Add\w+)\(\)", ops) == [firmware.resolver_method(op) for op in EMBEDDED3_OPS]
    assert "using ModelOpResolver = tflite::MicroMutableOpResolver<5>;" in ops
    header = (out / "model_runner.h").read_text()
    for define in ("MODEL_RUNNER_INPUT_BYTES 576", "MODEL_RUNNER_CLASSES 2",  # 24 x 24 x 1 int8
                   f"MODEL_RUNNER_ARENA_BYTES {result['arena_bytes']}"):
        assert f"#define {define}" in header
    cmake = (out / "CMakeLists.txt").read_text()
    for needle in ("project(blobs_generic C CXX)", "add_library(blobs_generic STATIC model_runner.cc model_data.cc)",
                   'set(TFLM_DIR "" CACHE PATH', '"${TFLM_DIR}/tensorflow/*.cc"',
                   "target_link_libraries(blobs_generic PUBLIC tflm)",
                   '"-mcpu=cortex-m7 -mfloat-abi=hard -mfpu=fpv5-sp-d16 -mthumb"', '"ARMCM7_SP"', '"CPU_M7=1"'):
        assert needle in cmake, needle
    assert "@" not in cmake and "CMAKE_SYSTEM_NAME Generic" in (out / "arm-none-eabi.cmake").read_text()
    readme = (out / "README.md").read_text()
    for needle in ("cmake -S blobs_generic -B build -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake -DTFLM_DIR=",
                   "create_tflm_tree.py", "model_runner_invoke(input, scores)", "target_link_libraries(your_app"):
        assert needle in readme, needle
    assert "$" not in readme
    assert result["device"] == "stm32f746" and [c["limit"] for c in result["checks"]] == [1_048_576, 327_680]
    m4_cmake = (boards["generic_m4"][0] / "CMakeLists.txt").read_text()
    assert '"-mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16 -mthumb"' in m4_cmake and '"ARMCM4"' in m4_cmake
    assert [c["limit"] for c in boards["generic_m4"][1]["checks"]] == [983_040, 393_216]


def test_every_search_device_has_a_board_that_accepts_it():
    """A built-in device has a board that accepts it, or its profile says why not (rp2040: none yet)."""
    assert set(profiles.DEVICES) - set(profiles.DEVICE_BOARDS) == {"rp2040"}
    for device, board in profiles.DEVICE_BOARDS.items():
        allowed = firmware.BOARDS[board].devices
        assert allowed is None or device in allowed
    assert cli.FIRMWARE_BOARDS == tuple(firmware.BOARDS)


# --- the operating threshold in the firmware --------------------------------------------------------------

def test_the_exports_threshold_is_compiled_into_every_board(sketch, boards, exported):
    point = exported[1]["operating_point"]
    assert point["rule"] == "youden"
    q, pc = point["threshold_q"], point["positive_class"]
    for out, result in (sketch, boards["nano33ble"]):
        ino = (out / f"{out.name}.ino").read_text()
        assert f"constexpr int8_t kThresholdQ = {q};" in ino and f"constexpr int kPositiveClass = {pc};" in ino
        assert "output->data.int8[kPositiveClass] >= kThresholdQ ? kPositiveClass" in ino
        assert result["decision"] == point
    out, result = boards["generic"]
    assert f"#define MODEL_RUNNER_THRESHOLD_Q ({q})" in (out / "model_runner.h").read_text()
    assert "scores[MODEL_RUNNER_POSITIVE_CLASS] >= MODEL_RUNNER_THRESHOLD_Q" in (out / "model_runner.cc").read_text()
    assert f"Youden's J: val TPR {point['val']['tpr']:.3f}" in (sketch[0] / "README.md").read_text()


def _flipping_threshold(exported) -> tuple[dict, int]:
    """An operating point that moves the self-test image to the other class, and that class."""
    src, report = exported
    with np.load(src / export.TEST_INPUT_FILE) as npz:
        image, label = npz["x"], int(npz["label"])
    q_positive = int(tflm.run_tflm((src / export.MODEL_FILE).read_bytes(), image)[0][1])
    q = q_positive + 1 if label == 1 else q_positive  # positive means score >= q
    return {**report["operating_point"], "threshold_q": q}, 1 - label


def test_the_firmware_acts_on_the_threshold_not_argmax(exported, tmp_path):
    point, flipped = _flipping_threshold(exported)
    result = firmware.generate_sketch(exported[0] / export.MODEL_FILE, tmp_path / "flip_apollo3",
                                      firmware.SketchConfig(operating_point=point, expected_class=1 - flipped,
                                      test_image=np.load(exported[0] / export.TEST_INPUT_FILE)["x"]))
    assert result["tflm_predicted_class"] == flipped and not result["self_test_passed"]
    assert f"kThresholdQ = {point['threshold_q']};" in (tmp_path / "flip_apollo3" / "flip_apollo3.ino").read_text()


def test_export_json_beside_the_model_is_used_only_for_that_model(exported, tmp_path):
    src, report = exported
    shutil.copy(src / export.MODEL_FILE, tmp_path / "m.tflite")
    result = firmware.generate_sketch(tmp_path / "m.tflite", tmp_path / "none")
    assert result["decision"]["rule"] == "argmax" and "no export.json" in result["decision"]["why"]
    (tmp_path / "export.json").write_text(json.dumps({**report, "sha256": "0" * 64}))
    result = firmware.generate_sketch(tmp_path / "m.tflite", tmp_path / "stale")
    assert result["decision"]["rule"] == "argmax" and "another model" in result["decision"]["why"]
    assert "kThresholdQ" not in (tmp_path / "stale" / "stale.ino").read_text()
    (tmp_path / "export.json").write_text("{not json")
    with pytest.raises(CompressError, match="export.json: not valid JSON"):
        firmware.generate_sketch(tmp_path / "m.tflite", tmp_path / "corrupt")
    assert not (tmp_path / "corrupt").exists()


# --- built for Cortex-M4 and run in QEMU (cached TFLM objects; skipped without the toolchain) -----------------

@pytest.fixture(scope="module")
def qemu_ready():
    from compress.deploy import emulator

    missing = emulator.toolchain_missing()
    if missing:
        pytest.skip(f"emulator unavailable: {missing}")


def test_nano33ble_sketch_runs_in_qemu(qemu_ready, boards):
    from compress.deploy import sketch_emulator

    out, result = boards["nano33ble"]
    ran = sketch_emulator.run_sketch(out, clock_mhz=64)
    assert ran["passed"] and ran["predicted"] == ["dim", "bright"][result["expected_class"]]
    assert "decision: bright if score >=" in ran["serial"] and ran["latency_us"] > 0


def test_generic_library_links_and_follows_its_threshold_in_qemu(qemu_ready, boards, exported, tmp_path):
    """The library's self-test program: PASS with the export's threshold; with a threshold that moves the image to
    the other class, the device prints that class, as the host's rule said it would."""
    from compress.deploy import sketch_emulator

    out, _ = boards["generic_m4"]
    ran = sketch_emulator.run_sketch(out)
    assert ran["passed"] and "compress library blobs_generic" in ran["serial"]
    point, flipped = _flipping_threshold(exported)
    flip = tmp_path / "flip_generic"
    config = firmware.SketchConfig(board="generic", device="apollo3", operating_point=point,
                                   expected_class=1 - flipped, class_names=["dim", "bright"],
                                   test_image=np.load(exported[0] / export.TEST_INPUT_FILE)["x"])
    firmware.generate_sketch(exported[0] / export.MODEL_FILE, flip, config)
    ran = sketch_emulator.run_sketch(flip)
    assert ran["predicted"] == ["dim", "bright"][flipped] and ran["passed"] is False


def test_generic_cmake_project_configures_and_compiles_the_model(boards, tmp_path):
    """CMake with the generated toolchain file against the TFLM tree: the configure step finds TFLM's sources and
    the model's own objects compile with the core's flags (the whole of TFLM is left to the user's build)."""
    from compress.deploy import tflm_build

    if not (shutil.which("cmake") and shutil.which("make") and shutil.which("arm-none-eabi-g++")):
        pytest.skip("cmake, make or arm-none-eabi-g++ is not installed")
    try:
        tree = tflm_build.tree_dir("cmsis-nn")
    except CompressError as exc:
        pytest.skip(str(exc))
    out, _ = boards["generic_m4"]
    build = tmp_path / "build"
    done = subprocess.run(["cmake", "-S", str(out), "-B", str(build), "-DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake",
                           f"-DTFLM_DIR={tree}", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = json.loads((build / "compile_commands.json").read_text())
    sources = [c["file"] for c in commands]
    assert sum("/tensorflow/lite/micro/" in f for f in sources) > 100 and any("cmsis_nn/Source" in f for f in sources)
    runner = next(c["command"] for c in commands if c["file"].endswith("model_runner.cc"))
    assert "-mcpu=cortex-m4" in runner and "-DCMSIS_NN" in runner and "-DTF_LITE_STATIC_MEMORY" in runner
    done = subprocess.run(["make", "-C", str(build), "model_runner.cc.obj", "model_data.cc.obj"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]



def test_ship_writes_the_devices_board_with_a_relative_folder(trained_model, blob_data, tmp_path):
    """A search on stm32f746 ships the generic library; summary.json gets the folder relative to the run."""
    from compress.deploy.ship import ship

    trained_model.save(tmp_path / "best.keras")
    result = ship(tmp_path, blob_data, beta=0.5, qat=False, seed=0, device="stm32f746", expected_latency_s=0.01,
                  log=lambda line: None)
    assert result["sketch_dir"] == "firmware/model_generic" and result["board"] == "generic"
    assert (tmp_path / "firmware" / "model_generic" / "CMakeLists.txt").is_file()
    assert result["decision"] == json.loads((tmp_path / export.REPORT_FILE).read_text())["operating_point"]
    assert str(tmp_path) not in (tmp_path / "firmware" / "model_generic" / "firmware.json").read_text()
