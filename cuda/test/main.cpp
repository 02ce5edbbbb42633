// prophet_cuda_test: every entry of the CUDA kernel table against the CPU backend's on the same
// inputs, the grouped expert GEMMs and the FFN on bf16/f16 against a double reference, the CUDA
// runtime (memory, streams, events, host callbacks), and with --bench a micro-benchmark. It links
// libprophet_cuda_testing.so: the same objects as libprophet_cuda.so, plus exported entry points
// for what the ABI cannot reach (other dtypes, the table without a device).
//
//   prophet_cuda_test [--require-device] [--bench] [--peak-gbs N]
//                     [--only table|runtime|gating|permute|gemm|ffn|optim|none]
//
// Without a CUDA device it checks that the library says why (score 0 with a reason, init NULL),
// which families its kernel table wires and that their argument checks equal the CPU's, and exits
// 0 (1 with --require-device). Exit status 1 when any check failed. The last line is
// "prophet_cuda_test: N passed, N failed".
#include <cstdlib>
#include <string>

#include "harness.h"

extern "C" const prophet_backend_i *prophet_cpu_backend(void);
extern "C" int prophet_backend_score(const char **reason);
extern "C" const prophet_backend_i *prophet_backend_init(const char **reason);

namespace prophet::test {

Tally &tally() {
  static Tally t;
  return t;
}

bool expect(bool condition, const std::string &where, const std::string &what) {
  if (condition) {
    ++tally().passed;
  } else {
    ++tally().failed;
    std::printf("FAIL %s: %s\n", where.c_str(), what.c_str());
  }
  return condition;
}

bool ok(const Side &side, prophet_status_t status, const std::string &what) {
  if (status == PROPHET_OK) return true;
  return expect(false, std::string(side.name) + " " + what,
                "status " + std::to_string(status) + ": " + side.backend->last_error());
}

Buf alloc(const Side &side, size_t bytes, int fill_byte) {
  prophet_buffer_t buffer = nullptr;
  if (!ok(side, side.backend->buffer->alloc(0, bytes < 4 ? 4 : bytes, &buffer), "alloc")) return Buf();
  Buf result(side.backend, buffer);
  ok(side, side.backend->memory->memset_async(buffer, 0, fill_byte, bytes < 4 ? 4 : bytes, side.stream),
     "memset");
  return result;
}

Pair alloc_both(const Env &env, size_t count, int fill_byte) {
  return Pair{alloc(env.cpu, count * 4, fill_byte), alloc(env.gpu, count * 4, fill_byte)};
}

bool expect_equal(const std::vector<int32_t> &cpu, const std::vector<int32_t> &gpu,
                  const std::string &where) {
  if (cpu.size() != gpu.size()) return expect(false, where, "sizes differ");
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (cpu[i] != gpu[i]) {
      return expect(false, where, "element " + std::to_string(i) + ": cpu " +
                                      std::to_string(cpu[i]) + ", cuda " + std::to_string(gpu[i]));
    }
  }
  return expect(true, where, "");
}

bool expect_bitwise(const std::vector<float> &cpu, const std::vector<float> &gpu,
                    const std::string &where) {
  if (cpu.size() != gpu.size()) return expect(false, where, "sizes differ");
  if (!cpu.empty() && std::memcmp(cpu.data(), gpu.data(), cpu.size() * 4) != 0) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      if (std::memcmp(&cpu[i], &gpu[i], 4) != 0) {
        char text[160];
        std::snprintf(text, sizeof text, "element %zu: cpu %.9g, cuda %.9g (bitwise)", i, cpu[i], gpu[i]);
        return expect(false, where, text);
      }
    }
  }
  return expect(true, where, "");
}

bool expect_close(const std::vector<float> &cpu, const std::vector<float> &gpu, double rtol,
                  double atol, const std::string &where) {
  if (cpu.size() != gpu.size()) return expect(false, where, "sizes differ");
  size_t differing = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double a = cpu[i], b = gpu[i];
    if (std::memcmp(&cpu[i], &gpu[i], 4) != 0) ++differing;
    if (std::isnan(a) && std::isnan(b)) continue;
    if (!(std::fabs(a - b) <= atol + rtol * std::fabs(a))) {
      char text[200];
      std::snprintf(text, sizeof text, "element %zu: cpu %.9g, cuda %.9g (rtol %g, atol %g)", i, a,
                    b, rtol, atol);
      return expect(false, where, text);
    }
  }
  if (differing != 0 && std::getenv("PROPHET_TEST_VERBOSE") != nullptr) {
    std::printf("note %s: %zu of %zu elements not bitwise equal (within tolerance)\n",
                where.c_str(), differing, cpu.size());
  }
  return expect(true, where, "");
}

}  // namespace prophet::test

namespace {

using namespace prophet::test;

// The CPU backend with a stream, the reference of every comparison.
Side cpu_side() {
  Side cpu;
  cpu.backend = prophet_cpu_backend();
  cpu.name = "cpu";
  ok(cpu, cpu.backend->stream->create(0, 0, &cpu.stream), "stream");
  return cpu;
}

// Without a device: the library must load, score 0 with the runtime's reason, and refuse init
// with a reason, never crash; its kernel table and argument checks are checked all the same.
int check_without_device(const char *reason, bool required) {
  const Side cpu = cpu_side();
  if (cpu.stream != nullptr) {
    test_kernel_table(cpu);
    test_cpu_stream_slots(cpu);
    cpu.backend->stream->destroy(cpu.stream);
  }
  expect(reason != nullptr && std::strlen(reason) > 0, "no device", "score gave no reason");
  const char *why = nullptr;
  const prophet_backend_i *backend = prophet_backend_init(&why);
  if (backend == nullptr) {
    expect(why != nullptr && std::strlen(why) > 0, "no device", "init refused without a reason");
  } else {
    expect(backend->device->count() == 0, "no device", "init succeeded but devices exist");
  }
  std::printf("no usable CUDA device: %s\n", reason != nullptr ? reason : "(none)");
  std::printf("prophet_cuda_test: %d passed, %d failed (GPU checks not run)\n", tally().passed,
              tally().failed + (required ? 1 : 0));
  return tally().failed == 0 && !required ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  bool require_device = false, bench = false;
  double peak_gbs = 0.0;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--require-device") {
      require_device = true;
    } else if (arg == "--bench") {
      bench = true;
    } else if (arg == "--peak-gbs" && i + 1 < argc) {
      peak_gbs = std::atof(argv[++i]);
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--require-device] [--bench] [--peak-gbs N] [--only GROUP]\n",
                   argv[0]);
      return 2;
    }
  }
  const char *reason = nullptr;
  const int score = prophet_backend_score(&reason);
  if (score <= 0) return check_without_device(reason, require_device);
  const char *why = nullptr;
  const prophet_backend_i *cuda = prophet_backend_init(&why);
  if (cuda == nullptr) {
    std::printf("FAIL init: %s\nprophet_cuda_test: 0 passed, 1 failed\n", why ? why : "");
    return 1;
  }
  prophet_device_info_t info{};
  if (cuda->device->info(0, &info) == PROPHET_OK) {
    std::printf("device 0: %s, compute %d.%d, %.1f GiB, %d SMs\n", info.name, info.compute_major,
                info.compute_minor, double(info.total_memory) / (1u << 30), info.num_cores);
  }
  Env env;
  env.cpu = cpu_side();
  env.gpu.backend = cuda;
  env.gpu.name = "cuda";
  if (env.cpu.stream == nullptr ||
      !ok(env.gpu, env.gpu.backend->stream->create(0, 0, &env.gpu.stream), "stream")) {
    return 1;
  }
  const auto group = [&](const char *name) { return only.empty() || only == name; };
  if (group("table")) {
    test_kernel_table(env.cpu);
    test_cpu_stream_slots(env.cpu);
  }
  if (group("runtime")) test_runtime(env);
  if (group("gating")) test_gating(env);
  if (group("permute")) test_permute(env);
  if (group("gemm")) {
    test_gemm(env);
    test_abi_gemm(env);
  }
  if (group("ffn")) {
    test_ffn(env);
    test_abi_ffn(env);
  }
  if (group("optim")) {
    test_optim(env);
    test_abi_optim(env);
  }
  if (bench) {
    run_benchmarks(env, peak_gbs);
    run_gemm_benchmarks(env);
    run_ffn_benchmarks(env);
  }
  env.cpu.backend->stream->destroy(env.cpu.stream);
  env.gpu.backend->stream->destroy(env.gpu.stream);
  std::printf("prophet_cuda_test: %d passed, %d failed\n", tally().passed, tally().failed);
  return tally().failed == 0 ? 0 : 1;
}
