// The CUDA runtime behind the ABI: buffers and their counters, memset and copies (memmove
// semantics within one buffer), range errors, stream priorities, events, host callbacks that
// free buffers (deferred frees), and cross-stream ordering.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

#include "harness.h"

namespace prophet::test {
namespace {

void test_buffers(const Side &gpu) {
  const prophet_backend_i *b = gpu.backend;
  uint64_t live0 = 0, bytes0 = 0, total0 = 0;
  b->memory_stats(&live0, &bytes0, &total0);
  prophet_buffer_t empty = nullptr, big = nullptr;
  ok(gpu, b->buffer->alloc(0, 0, &empty), "alloc 0 bytes");
  ok(gpu, b->buffer->alloc(0, 1000, &big), "alloc 1000 bytes");
  expect(empty != nullptr && b->buffer->size(empty) == 0, "runtime buffers", "zero-byte buffer");
  expect(b->buffer->device_ptr(big) != nullptr &&
             reinterpret_cast<uintptr_t>(b->buffer->device_ptr(big)) % 64 == 0,
         "runtime buffers", "device pointer 64-byte aligned");
  expect(b->buffer->host_ptr(big) == nullptr, "runtime buffers", "device memory has no host pointer");
  uint64_t live1 = 0, bytes1 = 0, total1 = 0;
  b->memory_stats(&live1, &bytes1, &total1);
  expect(live1 == live0 + 2 && bytes1 == bytes0 + 1000 && total1 == total0 + 2, "runtime buffers",
         "memory_stats counts two live buffers and 1000 bytes");
  b->buffer->free(empty);
  b->buffer->free(big);
  b->memory_stats(&live1, &bytes1, &total1);
  expect(live1 == live0 && bytes1 == bytes0, "runtime buffers", "memory_stats back after free");
  prophet_buffer_t huge = nullptr;
  const prophet_status_t s = b->buffer->alloc(0, size_t(1) << 50, &huge);  // 1 PiB
  expect((s == PROPHET_ERR_NOMEM || s == PROPHET_ERR_DEVICE) &&
             std::string(b->last_error()).find("cudaMallocAsync failed: ") == 0 &&
             std::string(b->last_error()).find(" at cuda/src/memory.cpp:") != std::string::npos,
         "runtime buffers", std::string("1 PiB alloc fails naming cudaMallocAsync and file:line: ") +
                                b->last_error());
  prophet_buffer_t bad = nullptr;
  expect(b->buffer->alloc(99, 4, &bad) == PROPHET_ERR_INVALID, "runtime buffers",
         "alloc on a device that does not exist is INVALID");
}

void test_copies(const Side &gpu) {
  const prophet_backend_i *b = gpu.backend;
  std::vector<uint8_t> host(4096);
  std::iota(host.begin(), host.end(), 0);
  Buf buf = upload(gpu, host);
  // memset a middle range, then an overlapping copy forwards and backwards inside the buffer.
  std::vector<uint8_t> expected = host;
  ok(gpu, b->memory->memset_async(buf.get(), 100, 0xab, 50, gpu.stream), "memset");
  std::memset(expected.data() + 100, 0xab, 50);
  ok(gpu, b->memory->copy_d2d_async(buf.get(), 10, buf.get(), 0, 1000, gpu.stream), "overlap fwd");
  std::memmove(expected.data() + 10, expected.data(), 1000);
  ok(gpu, b->memory->copy_d2d_async(buf.get(), 2000, buf.get(), 2100, 1000, gpu.stream), "overlap back");
  std::memmove(expected.data() + 2000, expected.data() + 2100, 1000);
  Buf other = alloc(gpu, 4096);
  ok(gpu, b->memory->copy_d2d_async(other.get(), 0, buf.get(), 0, 4096, gpu.stream), "d2d");
  const std::vector<uint8_t> back = download<uint8_t>(gpu, other, 4096);
  expect(back == expected, "runtime copies", "memset + overlapping d2d copies act like memmove");
  expect(b->memory->copy_d2d_async(other.get(), 4000, buf.get(), 0, 200, gpu.stream) ==
             PROPHET_ERR_INVALID,
         "runtime copies", "copy past the end is INVALID");
  expect(std::string(b->last_error()).find("exceeds buffer of 4096 bytes") != std::string::npos,
         "runtime copies", std::string("range message: ") + b->last_error());
  expect(b->memory->copy_h2d_async(other.get(), 0, host.data(), 0, gpu.stream) == PROPHET_OK,
         "runtime copies", "zero-byte copy is fine");
}

void test_streams_and_events(const Side &gpu) {
  const prophet_backend_i *b = gpu.backend;
  int least = 0, greatest = 0;
  b->stream->priority_range(&least, &greatest);
  expect(greatest <= least, "runtime streams", "priority range: greatest <= least");
  prophet_stream_t urgent = nullptr, lazy = nullptr;
  ok(gpu, b->stream->create(0, greatest - 10, &urgent), "create clamped urgent stream");
  ok(gpu, b->stream->create(0, least + 10, &lazy), "create clamped lazy stream");
  expect(b->stream->launch_host_task == nullptr, "runtime streams",
         "launch_host_task is NULL (optional slot, documented)");

  // Work on `lazy`, an event, a wait on `urgent`, then a read on `urgent` sees the work.
  const size_t n = size_t(64) << 20;  // 64 MiB: long enough that an unordered read would show
  Buf src = alloc(gpu, n, 0x5a), dst = alloc(gpu, n, 0);
  ok(gpu, b->stream->synchronize(gpu.stream), "sync setup");
  prophet_event_t start = nullptr, done = nullptr, plain = nullptr;
  ok(gpu, b->event->create(0, PROPHET_EVENT_TIMING, &start), "event timing");
  ok(gpu, b->event->create(0, PROPHET_EVENT_TIMING, &done), "event timing");
  ok(gpu, b->event->create(0, PROPHET_EVENT_DEFAULT, &plain), "event plain");
  expect(b->event->stream_wait(urgent, plain) == PROPHET_OK, "runtime events",
         "waiting on a never-recorded event returns at once");
  ok(gpu, b->event->record(start, lazy), "record");
  for (int i = 0; i < 4; ++i) ok(gpu, b->memory->copy_d2d_async(dst.get(), 0, src.get(), 0, n, lazy), "copy");
  ok(gpu, b->event->record(done, lazy), "record");
  ok(gpu, b->event->record(plain, lazy), "record");
  ok(gpu, b->event->stream_wait(urgent, plain), "stream_wait");
  std::vector<uint8_t> tail(256);
  ok(gpu, b->memory->copy_d2h_async(tail.data(), dst.get(), n - 256, 256, urgent), "d2h");
  ok(gpu, b->stream->synchronize(urgent), "sync urgent");
  expect(std::all_of(tail.begin(), tail.end(), [](uint8_t v) { return v == 0x5a; }),
         "runtime events", "a stream waiting on an event sees the work recorded before it");
  ok(gpu, b->event->synchronize(done), "event sync");
  expect(b->event->query(done) == PROPHET_OK, "runtime events", "query after synchronize is OK");
  double ms = -1.0;
  ok(gpu, b->event->elapsed_ms(start, done, &ms), "elapsed");
  expect(ms > 0.0, "runtime events", "elapsed time of 256 MiB of copies is positive");
  expect(b->event->elapsed_ms(start, plain, &ms) == PROPHET_ERR_INVALID &&
             std::string(b->last_error()) == "event was created without timing",
         "runtime events", "elapsed_ms refuses an event without timing");
  for (prophet_event_t e : {start, done, plain}) b->event->destroy(e);
  b->stream->destroy(urgent);
  b->stream->destroy(lazy);
}

struct CallbackState {
  const prophet_backend_i *backend;
  prophet_buffer_t to_free;
  std::atomic<int> calls{0};
};

// Frees a buffer from the runtime's callback thread, where CUDA calls are forbidden: the backend
// must defer the free rather than call cudaFreeAsync there (which would fail or deadlock).
void free_from_callback(void *arg) {
  auto *state = static_cast<CallbackState *>(arg);
  state->backend->buffer->free(state->to_free);
  state->calls.fetch_add(1);
}

void test_host_callbacks(const Side &gpu) {
  const prophet_backend_i *b = gpu.backend;
  uint64_t live0 = 0, bytes0 = 0, total0 = 0;
  b->memory_stats(&live0, &bytes0, &total0);
  CallbackState state{b, nullptr};
  ok(gpu, b->buffer->alloc(0, 1 << 20, &state.to_free), "alloc");
  ok(gpu, b->stream->launch_host_func(gpu.stream, free_from_callback, &state), "launch_host_func");
  ok(gpu, b->stream->synchronize(gpu.stream), "sync after callback");
  uint64_t live1 = 0, bytes1 = 0, total1 = 0;
  b->memory_stats(&live1, &bytes1, &total1);
  expect(state.calls.load() == 1, "runtime callbacks", "host function ran once before synchronize returned");
  expect(live1 == live0 && bytes1 == bytes0, "runtime callbacks",
         "a buffer freed from a callback is counted as freed");
  // The deferred free is released by the next alloc on this thread; the pool then reuses it.
  prophet_buffer_t again = nullptr;
  ok(gpu, b->buffer->alloc(0, 1 << 20, &again), "alloc after deferred free");
  b->buffer->free(again);
}

// The v2 slots NCCL needs: the cudaStream_t behind a stream, and an out-of-band failure (a
// communicator watchdog's timeout) that the next synchronize reports once and then clears.
void test_native_handle_and_reported_failure(const Side &gpu) {
  const prophet_backend_i *b = gpu.backend;
  expect(b->stream->native_handle != nullptr && b->stream->report_failure != nullptr,
         "runtime streams", "native_handle and report_failure are set");
  prophet_stream_t s = nullptr;
  ok(gpu, b->stream->create(0, 0, &s), "create stream");
  // This binary links no CUDA runtime: NCCL's use of the handle is checked from Node
  // (addon-gpu-check.mjs); here, each stream has its own non-NULL handle.
  void *raw = b->stream->native_handle(s);
  expect(raw != nullptr && raw != b->stream->native_handle(gpu.stream), "runtime streams",
         "native_handle gives each stream its own cudaStream_t");
  Buf buf = alloc(gpu, 4096, 0);
  ok(gpu, b->memory->memset_async(buf.get(), 0, 7, 4096, s), "memset");
  b->stream->report_failure(s, PROPHET_ERR_TIMEOUT, "allToAllV #3 timed out");
  b->stream->report_failure(s, PROPHET_ERR_COMM, "a later failure");  // the first one wins
  expect(b->stream->synchronize(s) == PROPHET_ERR_TIMEOUT &&
             std::string(b->last_error()) == "allToAllV #3 timed out",
         "runtime streams", "synchronize reports the first reported failure with its message");
  expect(b->stream->synchronize(s) == PROPHET_OK, "runtime streams",
         "the reported failure is cleared once reported");
  std::vector<uint8_t> back(4096);
  ok(gpu, b->memory->copy_d2h_async(back.data(), buf.get(), 0, 4096, s), "d2h");
  ok(gpu, b->stream->synchronize(s), "sync");
  expect(back[0] == 7 && back[4095] == 7, "runtime streams",
         "work queued before the report still ran");
  b->stream->destroy(s);
}

}  // namespace

void test_cpu_stream_slots(const Side &cpu) {
  const prophet_backend_i *b = cpu.backend;
  expect(b->stream->native_handle == nullptr && b->stream->report_failure != nullptr,
         "cpu streams", "no native handle; report_failure is set");
  ok(cpu, b->stream->synchronize(cpu.stream), "sync before");
  b->stream->report_failure(cpu.stream, PROPHET_ERR_TIMEOUT, "broadcast #2 timed out");
  b->stream->report_failure(cpu.stream, PROPHET_ERR_COMM, "a later failure");
  expect(b->stream->synchronize(cpu.stream) == PROPHET_ERR_TIMEOUT &&
             std::string(b->last_error()) == "broadcast #2 timed out",
         "cpu streams", "synchronize reports the first reported failure with its message");
  expect(b->stream->synchronize(cpu.stream) == PROPHET_OK, "cpu streams",
         "the reported failure is cleared once reported");
}

void test_runtime(const Env &env) {
  const Side &gpu = env.gpu;
  prophet_device_info_t info{};
  ok(gpu, gpu.backend->device->info(0, &info), "device info");
  expect(gpu.backend->device->count() >= 1 && info.name != nullptr && info.name[0] != '\0' &&
             info.compute_major >= 7 && info.total_memory > 0 && info.num_cores > 0,
         "runtime device", "device 0 reports a name, compute capability, memory and SMs");
  expect(gpu.backend->device->info(gpu.backend->device->count(), &info) == PROPHET_ERR_INVALID,
         "runtime device", "info on a device past the last is INVALID");
  expect(gpu.backend->api_version == PROPHET_BACKEND_API_VERSION &&
             std::string(gpu.backend->name) == "cuda",
         "runtime device", "api_version and name");
  test_buffers(gpu);
  test_copies(gpu);
  test_streams_and_events(gpu);
  test_host_callbacks(gpu);
  test_native_handle_and_reported_failure(gpu);
}

}  // namespace prophet::test
