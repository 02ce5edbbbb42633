// Private types of the CPU backend, shared by its files. Nothing outside native/cpu includes this.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "../core/backend.h"

namespace prophet::cpu {

// Records a failure message for last_error() on this thread and returns the status, so that a
// failing function reads `return fail(PROPHET_ERR_INVALID, "...")`.
prophet_status_t fail(prophet_status_t status, std::string message);
const char *last_error();

// One unit of stream work. Returns PROPHET_OK or a failure whose message was set with fail().
using StreamOp = std::function<prophet_status_t()>;

}  // namespace prophet::cpu

// A stream is one worker thread draining a FIFO queue. Later ops run after earlier ones finish;
// ops of two streams run on two threads, so they overlap for real.
struct prophet_stream {
  explicit prophet_stream(int priority);
  ~prophet_stream();  // drains the queue, then joins the worker

  void enqueue(prophet::cpu::StreamOp op);
  prophet_status_t synchronize();  // blocks until every op queued so far has run
  bool idle();
  // Makes `status` the sticky failure unless one is already pending (report_failure in the ABI).
  void report_failure(prophet_status_t status, const char *message);

  const int priority;

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  std::deque<prophet::cpu::StreamOp> queue_;
  uint64_t num_queued_ = 0;
  uint64_t num_done_ = 0;
  bool stopping_ = false;
  // The first failure since the last synchronize(); later ops still run (an event record that
  // other streams wait on must never be skipped, or they would hang).
  prophet_status_t sticky_status_ = PROPHET_OK;
  std::string sticky_message_;
  std::thread worker_;
};

namespace prophet::cpu {

// The state an event's records and waits share. Held by shared_ptr so that work queued on a
// stream stays valid when the event handle is destroyed first.
struct EventState {
  std::mutex mutex;
  std::condition_variable completed_cv;
  uint64_t num_recorded = 0;   // generation of the latest record()
  uint64_t num_completed = 0;  // highest generation whose stream position was reached
  std::chrono::steady_clock::time_point completed_at{};
  bool timing = false;
};

}  // namespace prophet::cpu

struct prophet_event {
  std::shared_ptr<prophet::cpu::EventState> state = std::make_shared<prophet::cpu::EventState>();
};

struct prophet_buffer {
  void *data = nullptr;
  size_t bytes = 0;
};

namespace prophet::cpu {
extern const prophet_device_i kDevice;
extern const prophet_buffer_i kBuffer;
extern const prophet_stream_i kStream;
extern const prophet_event_i kEvent;
extern const prophet_memory_i kMemory;
}  // namespace prophet::cpu

// The CPU backend's table (compiled into the addon).
extern "C" const prophet_backend_i *prophet_cpu_backend(void);
