#include "nccl_communicator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "../core/kernels.h"
#include "../core/kernels_optim.h"
#include "cuda_device.h"

namespace prophet::comm {
namespace {

// nccl.h's values (stable across NCCL 2.x).
constexpr ncclDataType_t kUint8 = 1;
constexpr ncclDataType_t kFloat32 = 7;
constexpr ncclRedOp_t kSum = 0;
constexpr ncclResult_t kInProgress = 7;

// How often the watchdog looks at queued calls while any is pending.
constexpr auto kPollInterval = std::chrono::milliseconds(1);
// How long an abort waits for a call being queued to finish queuing before it goes ahead.
constexpr auto kAbortGrace = std::chrono::milliseconds(500);

// PROPHET_NCCL_DEBUG=1: the watchdog narrates what it sees on stderr.
bool debug_watchdog() {
  static const bool on = [] {
    const char *value = std::getenv("PROPHET_NCCL_DEBUG");
    return value != nullptr && value[0] == '1';
  }();
  return on;
}

bool whole_world(const Subset &subset, int size) {
  return static_cast<int>(subset.members.size()) == size;
}

}  // namespace

NcclCommunicator::NcclCommunicator(const NcclApi &api, const prophet_backend_i *backend,
                                   ncclComm_t comm, int rank, int size, int device)
    : api_(api), backend_(backend), comm_(comm), rank_(rank), size_(size), device_(device) {
  // Scratch for barrier(); without it barrier() reports the allocation failure.
  if (backend_->buffer->alloc(device_, sizeof(float), &barrier_scratch_) != PROPHET_OK) {
    barrier_scratch_ = nullptr;
  }
  watchdog_ = std::thread([this] { watch(); });
}

NcclCommunicator::~NcclCommunicator() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  watchdog_.join();  // returns once every queued call finished or was aborted and drained
  if (!aborted_) api_.comm_destroy(comm_);
  if (barrier_scratch_ != nullptr) backend_->buffer->free(barrier_scratch_);
}

Status NcclCommunicator::nccl_failure(const std::string &what, const char *call,
                                      ncclResult_t result) {
  return {PROPHET_ERR_COMM, what + ": " + call + " failed: " + nccl_error_message(api_, result)};
}

Status NcclCommunicator::in_group(const std::string &what, const GroupCalls &calls) {
  ncclResult_t result = api_.group_start();
  if (result != 0) return nccl_failure(what, "ncclGroupStart", result);
  const char *call = "";
  result = calls(&call);
  // The group is closed even after a failed call inside it.
  const ncclResult_t ended = api_.group_end();
  if (result == 0 && ended != 0) {
    call = "ncclGroupEnd";
    result = ended;
  }
  return result == 0 ? Status::Ok() : nccl_failure(what, call, result);
}

void NcclCommunicator::release(Pending *pending) {
  if (pending->started != nullptr) backend_->event->destroy(pending->started);
  if (pending->finished != nullptr) backend_->event->destroy(pending->finished);
  pending->started = pending->finished = nullptr;
  pending->keepalive.reset();
}

Status NcclCommunicator::scratch(size_t bytes, const std::string &what,
                                 std::shared_ptr<void> *owner, float **out) {
  prophet_buffer_t buffer = nullptr;
  if (backend_->buffer->alloc(device_, bytes, &buffer) != PROPHET_OK) {
    return {PROPHET_ERR_NOMEM, what + ": " + backend_->last_error()};
  }
  const prophet_backend_i *backend = backend_;
  *owner = std::shared_ptr<void>(buffer, [backend](void *b) {
    backend->buffer->free(static_cast<prophet_buffer_t>(b));
  });
  *out = static_cast<float *>(backend_->buffer->device_ptr(buffer));
  return Status::Ok();
}

Status NcclCommunicator::run(const NcclLaunch &launch, const char *collective,
                             const Issue &issue) {
  std::unique_lock<std::timed_mutex> issuing(issue_mutex_);
  Pending pending;
  pending.what = describe_call(collective, launch.call);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!poisoned_.empty()) {
      return {PROPHET_ERR_COMM, pending.what + ": the communicator failed earlier: " + poisoned_};
    }
  }
  void *cuda_stream = backend_->stream->native_handle != nullptr
                          ? backend_->stream->native_handle(launch.stream)
                          : nullptr;
  if (cuda_stream == nullptr) {
    return {PROPHET_ERR_UNSUPPORTED, pending.what + ": NCCL needs a stream of the CUDA backend"};
  }
  std::string error;
  if (select_cuda_device(device_, &error) == DeviceSelection::kFailed) {
    return {PROPHET_ERR_DEVICE, pending.what + ": " + error};
  }
  pending.stream = launch.stream;
  pending.keepalive = launch.keepalive;
  pending.timeout_ms = launch.call.timeout_ms;
  const prophet_event_i &events = *backend_->event;
  Status status;
  if (events.create(device_, PROPHET_EVENT_DEFAULT, &pending.started) != PROPHET_OK ||
      events.create(device_, PROPHET_EVENT_DEFAULT, &pending.finished) != PROPHET_OK ||
      events.record(pending.started, launch.stream) != PROPHET_OK) {
    status = {PROPHET_ERR_DEVICE, pending.what + ": " + backend_->last_error()};
    release(&pending);
    return status;
  }
  status = issue(cuda_stream, pending.what);
  if (status.ok() && events.record(pending.finished, pending.stream) != PROPHET_OK) {
    status = {PROPHET_ERR_DEVICE, pending.what + ": " + backend_->last_error()};
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (status.ok() && !poisoned_.empty()) {
    // The watchdog aborted the communicator while this call was being queued (it waited for the
    // issue lock only so long): the call's work cannot complete.
    status = {PROPHET_ERR_COMM, pending.what + ": not completed: " + poisoned_};
  }
  if (!status.ok()) {
    // The peers may now wait for this rank's part forever; their watchdogs time them out.
    if (poisoned_.empty()) poisoned_ = status.message;
    // Work queued before the failure may still use the call's buffers: keep them until the
    // stream has passed a `finished` event (or give them up if even that cannot be recorded).
    if (events.record(pending.finished, pending.stream) == PROPHET_OK) {
      draining_.push_back(std::move(pending));
      changed_.notify_all();
    } else {
      lock.unlock();
      release(&pending);
    }
    return status;
  }
  pending_.push_back(std::move(pending));
  changed_.notify_all();
  return Status::Ok();
}

Status NcclCommunicator::all_to_all_v(const NcclLaunch &launch, const void *send, void *recv,
                                      const AllToAllVLayout &layout) {
  return run(launch, "allToAllV", [&](void *stream, const std::string &what) {
    return in_group(what, [&](const char **call) {
      const auto *from = static_cast<const uint8_t *>(send);
      auto *to = static_cast<uint8_t *>(recv);
      ncclResult_t result = 0;
      for (int peer = 0; peer < size_ && result == 0; ++peer) {
        const size_t out = layout.send_bytes[peer], in = layout.recv_bytes[peer];
        if (out > 0) {
          *call = "ncclSend";
          result = api_.send(from + layout.send_offsets[peer], out, kUint8, peer, comm_, stream);
        }
        if (result == 0 && in > 0) {
          *call = "ncclRecv";
          result = api_.recv(to + layout.recv_offsets[peer], in, kUint8, peer, comm_, stream);
        }
      }
      return result;
    });
  });
}

Status NcclCommunicator::all_gather(const NcclLaunch &launch, const void *send, size_t bytes,
                                    void *recv) {
  return run(launch, "allGather", [&](void *stream, const std::string &what) {
    const ncclResult_t result = api_.all_gather(send, recv, bytes, kUint8, comm_, stream);
    return result == 0 ? Status::Ok() : nccl_failure(what, "ncclAllGather", result);
  });
}

Status NcclCommunicator::broadcast(const NcclLaunch &launch, void *data, size_t bytes,
                                   const Subset &subset) {
  if (!subset.contains(rank_)) return Status::Ok();  // non-members take no part
  return run(launch, "broadcast", [&](void *stream, const std::string &what) {
    if (whole_world(subset, size_)) {
      const ncclResult_t result = api_.broadcast(data, data, bytes, kUint8, subset.root, comm_, stream);
      return result == 0 ? Status::Ok() : nccl_failure(what, "ncclBroadcast", result);
    }
    // The root sends to every other member; each of them receives from the root.
    return in_group(what, [&](const char **call) {
      ncclResult_t result = 0;
      for (int member : subset.members) {
        if (result != 0 || member == rank_ || bytes == 0) continue;
        if (rank_ == subset.root) {
          *call = "ncclSend";
          result = api_.send(data, bytes, kUint8, member, comm_, stream);
        } else if (member == subset.root) {
          *call = "ncclRecv";
          result = api_.recv(data, bytes, kUint8, member, comm_, stream);
        }
      }
      return result;
    });
  });
}

Status NcclCommunicator::reduce_sum_f32(const NcclLaunch &launch, float *data, size_t count,
                                        const Subset &subset) {
  if (!subset.contains(rank_)) return Status::Ok();
  if (whole_world(subset, size_)) {
    return run(launch, "reduce", [&](void *stream, const std::string &what) {
      const ncclResult_t result =
          api_.reduce(data, data, count, kFloat32, kSum, subset.root, comm_, stream);
      return result == 0 ? Status::Ok() : nccl_failure(what, "ncclReduce", result);
    });
  }
  if (rank_ != subset.root) {
    return run(launch, "reduce", [&](void *stream, const std::string &what) {
      if (count == 0) return Status::Ok();
      const ncclResult_t result = api_.send(data, count, kFloat32, subset.root, comm_, stream);
      return result == 0 ? Status::Ok() : nccl_failure(what, "ncclSend", result);
    });
  }
  // The root: one slot per member (its own data copied into its slot), received in one group,
  // then data = ((0 + x_m0) + x_m1) + ... in ascending member order, as the host backends sum.
  const prophet_optim_i *optim = backend_->kernel != nullptr ? backend_->kernel->optim : nullptr;
  const std::string what = describe_call("reduce", launch.call);
  if (optim == nullptr || optim->fill == nullptr || optim->axpy == nullptr) {
    return {PROPHET_ERR_UNSUPPORTED, what + ": a subset reduce needs the CUDA optimizer kernels (axpy)"};
  }
  const size_t num_members = subset.members.size();
  std::shared_ptr<void> slots_owner;
  float *slots = nullptr;
  if (count > 0) {
    const Status made = scratch(num_members * count * sizeof(float), what, &slots_owner, &slots);
    if (!made.ok()) return made;
  }
  NcclLaunch with_slots = launch;
  with_slots.keepalive = std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>>(
      launch.keepalive, slots_owner);
  const auto n = static_cast<int64_t>(count);
  return run(with_slots, "reduce", [&](void *stream, const std::string &call_name) {
    if (count == 0) return Status::Ok();
    const Status received = in_group(call_name, [&](const char **call) {
      ncclResult_t result = 0;
      for (size_t i = 0; i < num_members && result == 0; ++i) {
        if (subset.members[i] == rank_) continue;
        *call = "ncclRecv";
        result = api_.recv(slots + i * count, count, kFloat32, subset.members[i], comm_, stream);
      }
      return result;
    });
    if (!received.ok()) return received;
    // Stream-ordered after the receives: the sums, on the same stream.
    const size_t own = static_cast<size_t>(
        std::find(subset.members.begin(), subset.members.end(), rank_) - subset.members.begin());
    float *own_slot = slots + own * count;
    prophet_status_t st = optim->fill(launch.stream, n, own_slot, 0.0f);
    if (st == PROPHET_OK) st = optim->axpy(launch.stream, n, 1.0f, data, own_slot);
    if (st == PROPHET_OK) st = optim->fill(launch.stream, n, data, 0.0f);
    for (size_t i = 0; i < num_members && st == PROPHET_OK; ++i) {
      st = optim->axpy(launch.stream, n, 1.0f, slots + i * count, data);
    }
    if (st != PROPHET_OK) return Status{st, call_name + ": " + backend_->last_error()};
    return Status::Ok();
  });
}

Status NcclCommunicator::all_reduce_sum_f32(const NcclLaunch &launch, float *data, size_t count) {
  return run(launch, "allReduce", [&](void *stream, const std::string &what) {
    const ncclResult_t result = api_.all_reduce(data, data, count, kFloat32, kSum, comm_, stream);
    return result == 0 ? Status::Ok() : nccl_failure(what, "ncclAllReduce", result);
  });
}

Status NcclCommunicator::barrier(const NcclLaunch &launch) {
  if (barrier_scratch_ == nullptr) {
    return {PROPHET_ERR_NOMEM, describe_call("barrier", launch.call) +
                                   ": no device scratch (its allocation failed)"};
  }
  return run(launch, "barrier", [&](void *stream, const std::string &what) {
    // A one-float all-reduce: no rank's stream passes it before every rank's has reached it.
    void *scratch = backend_->buffer->device_ptr(barrier_scratch_);
    const ncclResult_t result = api_.all_reduce(scratch, scratch, 1, kFloat32, kSum, comm_, stream);
    return result == 0 ? Status::Ok() : nccl_failure(what, "ncclAllReduce", result);
  });
}

void NcclCommunicator::abort_calls(std::unique_lock<std::mutex> &lock, prophet_status_t status,
                                   const std::string &message, const std::string &culprit) {
  if (poisoned_.empty()) poisoned_ = message;
  // Report first: ncclCommAbort can take longer than the calls it stops, and a synchronize that
  // returns meanwhile must already see the failure (seen on an H200).
  for (Pending &pending : pending_) {
    if (pending.what == culprit) {
      backend_->stream->report_failure(pending.stream, status, message.c_str());
    } else {
      const std::string skipped = pending.what + ": not completed: " + message;
      backend_->stream->report_failure(pending.stream, PROPHET_ERR_COMM, skipped.c_str());
    }
    draining_.push_back(std::move(pending));  // its buffers stay until its stream has drained
  }
  pending_.clear();
  if (debug_watchdog()) std::fprintf(stderr, "watchdog: aborting: %s\n", message.c_str());
  if (aborted_ || api_.comm_abort == nullptr) return;
  // No call may be queuing on the communicator while it is freed: wait for the issue lock (a
  // call stuck inside NCCL, e.g. connecting to a dead peer, is what the abort must end, so after
  // the grace period the abort goes ahead).
  lock.unlock();
  std::unique_lock<std::timed_mutex> issuing(issue_mutex_, std::defer_lock);
  (void)issuing.try_lock_for(kAbortGrace);
  api_.comm_abort(comm_);
  lock.lock();
  aborted_ = true;
}

void NcclCommunicator::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  std::vector<Pending> done;
  for (;;) {
    if (pending_.empty() && draining_.empty()) {
      if (stopping_) return;
      changed_.wait(lock);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    std::string timed_out;
    int timed_out_ms = 0;
    // Aborted calls: their buffers go once their streams have drained.
    for (size_t i = 0; i < draining_.size();) {
      if (backend_->event->query(draining_[i].finished) != PROPHET_ERR_NOT_READY) {
        done.push_back(std::move(draining_[i]));
        draining_.erase(draining_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    for (size_t i = 0; i < pending_.size();) {
      Pending &pending = pending_[i];
      if (!pending.running) {
        const prophet_status_t started = backend_->event->query(pending.started);
        // Its clock starts when it starts running, as on the host; once the communicator is
        // being disposed, a call that has not started gets its timeout from now.
        if (started != PROPHET_ERR_NOT_READY || stopping_) {
          pending.running = true;
          pending.deadline = now + std::chrono::milliseconds(pending.timeout_ms);
        }
        if (debug_watchdog()) std::fprintf(stderr, "watchdog: %s started? %d\n", pending.what.c_str(), started);
      }
      const prophet_status_t finished =
          pending.running ? backend_->event->query(pending.finished) : PROPHET_ERR_NOT_READY;
      if (debug_watchdog() && pending.running) {
        std::fprintf(stderr, "watchdog: %s finished? %d, %.3f ms to deadline\n", pending.what.c_str(),
                     finished, std::chrono::duration<double, std::milli>(pending.deadline - now).count());
      }
      if (finished != PROPHET_ERR_NOT_READY) {
        done.push_back(std::move(pending));
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      if (pending.running && now > pending.deadline && timed_out.empty()) {
        timed_out = pending.what;
        timed_out_ms = pending.timeout_ms;
      }
      ++i;
    }
    if (!done.empty()) {
      // Released outside the lock: dropping the last reference to a stream synchronizes it.
      lock.unlock();
      for (Pending &pending : done) release(&pending);
      done.clear();
      lock.lock();
      continue;  // the lists may have changed meanwhile
    }
    if (!timed_out.empty()) {
      abort_calls(lock, PROPHET_ERR_TIMEOUT,
                  timed_out + " timed out after " + std::to_string(timed_out_ms) +
                      " ms waiting for its peers (NCCL communicator aborted)",
                  timed_out);
    } else if (!aborted_ && !pending_.empty() && api_.comm_get_async_error != nullptr) {
      // A broken transport (a peer process died) shows here before any timeout.
      ncclResult_t error = 0;
      if (api_.comm_get_async_error(comm_, &error) == 0 && error != 0 && error != kInProgress) {
        abort_calls(lock, PROPHET_ERR_COMM,
                    "NCCL reported an asynchronous error: " + nccl_error_message(api_, error), "");
      }
    }
    changed_.wait_for(lock, kPollInterval);
  }
}

}  // namespace prophet::comm
