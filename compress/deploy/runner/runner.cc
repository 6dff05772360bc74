// compress runner: one TFLite Micro program for QEMU's mps2-an386 that runs any int8 .tflite from the host.
//
// Through semihosting it reads `model.tflite` and `input.bin` (samples of the model's inputs, raw bytes, one
// sample after another) from QEMU's working directory, runs every sample, and prints one line per fact:
//   compress-runner <version>
//   arena_used <bytes>                    what AllocateTensors() took of the arena (MicroInterpreter)
//   op <index> <name> <instructions>      per op of the first sample (the profiler below)
//   invoke <instructions>                 the whole first Invoke(), interpreter overhead included
//   output <sample> <tensor> <int> ...    every output tensor of every sample, as integers
//   done <samples>
// or `error <message>` and a non-zero exit. Instructions come from timer.h (QEMU -icount shift=0).
// The ops it can run are registered from runner_ops.h, written by compress when it builds this program.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "runner_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "timer.h"

extern "C" void DebugLog(const char* format, va_list args) { vprintf(format, args); }

extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}

namespace {

constexpr size_t kModelMaxBytes = 4u << 20;
constexpr size_t kArenaBytes = 12u << 20;
alignas(16) uint8_t model_buffer[kModelMaxBytes] __attribute__((section(".psram")));
alignas(16) uint8_t arena[kArenaBytes] __attribute__((section(".psram")));

// One record per op of an Invoke(), like TFLM's MicroProfiler, but counting instructions with timer.h.
class InstructionProfiler : public tflite::MicroProfilerInterface {
 public:
  static constexpr int kMaxEvents = 4096;
  bool enabled = false;
  int count = 0;
  const char* tags[kMaxEvents];
  uint32_t begin[kMaxEvents];
  uint32_t end[kMaxEvents];

  uint32_t BeginEvent(const char* tag) override {
    if (!enabled || count >= kMaxEvents) return kMaxEvents;
    tags[count] = tag;
    begin[count] = compress_timer::Ticks();
    return count++;
  }
  void EndEvent(uint32_t handle) override {
    if (handle < static_cast<uint32_t>(kMaxEvents)) end[handle] = compress_timer::Ticks();
  }
};

InstructionProfiler profiler;

int Fail(const char* message) {
  printf("error %s\n", message);
  return 1;
}

long ReadFile(const char* path, uint8_t* buffer, size_t capacity) {
  FILE* f = fopen(path, "rb");
  if (f == nullptr) return -1;
  size_t n = fread(buffer, 1, capacity, f);
  int more = fgetc(f);
  fclose(f);
  return more == EOF ? static_cast<long>(n) : -2;
}

void PrintOutputs(tflite::MicroInterpreter& interpreter, int sample) {
  for (size_t t = 0; t < interpreter.outputs_size(); ++t) {
    const TfLiteTensor* out = interpreter.output(t);
    printf("output %d %u", sample, static_cast<unsigned>(t));
    for (size_t i = 0; i < out->bytes; ++i) {
      if (out->type == kTfLiteInt8) {
        printf(" %d", out->data.int8[i]);
      } else if (out->type == kTfLiteUInt8) {
        printf(" %u", out->data.uint8[i]);
      } else if (out->type == kTfLiteInt16 && i % 2 == 0) {
        printf(" %d", out->data.i16[i / 2]);
      } else if (out->type == kTfLiteInt32 && i % 4 == 0) {
        printf(" %ld", static_cast<long>(out->data.i32[i / 4]));
      } else if (out->type == kTfLiteFloat32 && i % 4 == 0) {
        printf(" %.9g", static_cast<double>(out->data.f[i / 4]));
      }
    }
    printf("\n");
  }
}

}  // namespace

int main() {
  printf("compress-runner 1\n");
  long model_bytes = ReadFile("model.tflite", model_buffer, kModelMaxBytes);
  if (model_bytes < 0) return Fail(model_bytes == -1 ? "cannot open model.tflite" : "model.tflite is over 4 MiB");
  const tflite::Model* model = tflite::GetModel(model_buffer);
  if (model->version() != TFLITE_SCHEMA_VERSION) return Fail("model schema version differs from the library's");

  static tflite::MicroMutableOpResolver<COMPRESS_OP_COUNT> resolver;
  bool ops_ok = true;
  COMPRESS_REGISTER_OPS(resolver, ops_ok);
  if (!ops_ok) return Fail("could not register the ops");

  static tflite::MicroInterpreter interpreter(model, resolver, arena, kArenaBytes, nullptr, &profiler);
  if (interpreter.AllocateTensors() != kTfLiteOk) return Fail("AllocateTensors() failed");
  printf("arena_used %lu\n", static_cast<unsigned long>(interpreter.arena_used_bytes()));

  size_t sample_bytes = 0;
  for (size_t t = 0; t < interpreter.inputs_size(); ++t) sample_bytes += interpreter.input(t)->bytes;
  FILE* inputs = fopen("input.bin", "rb");
  if (inputs == nullptr) return Fail("cannot open input.bin");

  compress_timer::Start();
  int sample = 0;
  for (;; ++sample) {
    size_t got = 0;
    for (size_t t = 0; t < interpreter.inputs_size(); ++t) {
      TfLiteTensor* in = interpreter.input(t);
      got += fread(in->data.raw, 1, in->bytes, inputs);
    }
    if (got == 0) break;
    if (got != sample_bytes) {
      fclose(inputs);
      return Fail("input.bin does not hold a whole number of samples");
    }
    // every sample from zero variable tensors (an LSTM's state, which TFLM's reference kernel keeps across Invoke())
    if (sample > 0 && interpreter.Reset() != kTfLiteOk) {
      fclose(inputs);
      return Fail("Reset() failed");
    }
    profiler.enabled = sample == 0;
    const uint32_t start = compress_timer::Ticks();
    const TfLiteStatus status = interpreter.Invoke();
    const uint32_t stop = compress_timer::Ticks();
    profiler.enabled = false;
    if (status != kTfLiteOk) {
      fclose(inputs);
      return Fail("Invoke() failed");
    }
    if (sample == 0) {
      for (int i = 0; i < profiler.count; ++i) {
        printf("op %d %s %llu\n", i, profiler.tags[i],
               static_cast<unsigned long long>(compress_timer::Instructions(profiler.begin[i], profiler.end[i])));
      }
      printf("invoke %llu\n", static_cast<unsigned long long>(compress_timer::Instructions(start, stop)));
    }
    PrintOutputs(interpreter, sample);
  }
  fclose(inputs);
  printf("done %d\n", sample);
  return 0;
}
