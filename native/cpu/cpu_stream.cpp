// CPU streams: a worker thread per stream with a FIFO queue (see cpu_internal.h).
#include <sys/resource.h>
#include <system_error>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu_internal.h"

namespace {

// Lower is more urgent, as in CUDA. A high-priority stream (Trans/Agg) asks the kernel for a
// better nice value; without CAP_SYS_NICE the request is refused and the stream runs at the
// normal level, which is correct, only less eager.
constexpr int kLeastPriority = 0;
constexpr int kGreatestPriority = -1;
constexpr int kHighPriorityNice = -5;

void apply_thread_priority(int priority) {
  if (priority >= 0) return;
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(tid), kHighPriorityNice);
}

}  // namespace

prophet_stream::prophet_stream(int priority_in)
    : priority(priority_in), worker_([this] { run(); }) {}

prophet_stream::~prophet_stream() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  worker_.join();
}

void prophet_stream::enqueue(prophet::cpu::StreamOp op) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(op));
    ++num_queued_;
  }
  work_ready_.notify_one();
}

void prophet_stream::run() {
  apply_thread_priority(priority);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    prophet::cpu::StreamOp op = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    prophet_status_t status;
    try {
      status = op();
    } catch (const std::exception &e) {
      status = prophet::cpu::fail(PROPHET_ERR_DEVICE, std::string("stream op threw: ") + e.what());
    }
    op = nullptr;  // release captured resources before reporting completion
    const char *message = status == PROPHET_OK ? "" : prophet::cpu::last_error();
    lock.lock();
    if (status != PROPHET_OK && sticky_status_ == PROPHET_OK) {
      sticky_status_ = status;
      sticky_message_ = message;
    }
    ++num_done_;
    work_done_.notify_all();
  }
}

prophet_status_t prophet_stream::synchronize() {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t target = num_queued_;
  work_done_.wait(lock, [&] { return num_done_ >= target; });
  const prophet_status_t status = sticky_status_;
  std::string message = std::move(sticky_message_);
  sticky_status_ = PROPHET_OK;
  sticky_message_.clear();
  lock.unlock();
  return status == PROPHET_OK ? status : prophet::cpu::fail(status, message);
}

void prophet_stream::report_failure(prophet_status_t status, const char *message) {
  if (status == PROPHET_OK) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (sticky_status_ != PROPHET_OK) return;
  sticky_status_ = status;
  sticky_message_ = message != nullptr ? message : "";
}

bool prophet_stream::idle() {
  std::lock_guard<std::mutex> lock(mutex_);
  return num_done_ == num_queued_;
}

namespace prophet::cpu {
namespace {

prophet_status_t stream_create(int device, int priority, prophet_stream_t *out) {
  if (device != 0) return fail(PROPHET_ERR_INVALID, "cpu backend has one device (0)");
  if (priority < kGreatestPriority) priority = kGreatestPriority;
  if (priority > kLeastPriority) priority = kLeastPriority;
  try {
    *out = new prophet_stream(priority);
  } catch (const std::system_error &e) {
    return fail(PROPHET_ERR_NOMEM, std::string("cannot start stream thread: ") + e.what());
  }
  return PROPHET_OK;
}

void stream_destroy(prophet_stream_t stream) { delete stream; }

prophet_status_t stream_synchronize(prophet_stream_t stream) { return stream->synchronize(); }

prophet_status_t stream_query(prophet_stream_t stream) {
  return stream->idle() ? PROPHET_OK : PROPHET_ERR_NOT_READY;
}

void stream_priority_range(int *least, int *greatest) {
  *least = kLeastPriority;
  *greatest = kGreatestPriority;
}

prophet_status_t stream_launch_host_func(prophet_stream_t stream, prophet_host_fn fn,
                                         void *user_data) {
  stream->enqueue([fn, user_data] {
    fn(user_data);
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t stream_launch_host_task(prophet_stream_t stream, prophet_host_task task,
                                         void *user_data) {
  stream->enqueue([task, user_data] {
    char message[512] = {0};
    const prophet_status_t status = task(user_data, message, sizeof message);
    return status == PROPHET_OK ? status : fail(status, message);
  });
  return PROPHET_OK;
}

void stream_report_failure(prophet_stream_t stream, prophet_status_t status,
                           const char *message) {
  stream->report_failure(status, message);
}

}  // namespace

const prophet_stream_i kStream = {
    /* .create           = */ stream_create,
    /* .destroy          = */ stream_destroy,
    /* .synchronize      = */ stream_synchronize,
    /* .query            = */ stream_query,
    /* .priority_range   = */ stream_priority_range,
    /* .launch_host_func = */ stream_launch_host_func,
    /* .launch_host_task = */ stream_launch_host_task,
    /* .native_handle    = */ nullptr,  // the worker thread is ours alone: nothing to hand out
    /* .report_failure   = */ stream_report_failure,
};

}  // namespace prophet::cpu
