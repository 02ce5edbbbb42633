#include "gloo_transfers.h"

#include <gloo/common/error.h>

#include <algorithm>

namespace prophet::comm {
namespace {

// Gloo reports its own deadline as "Timed out waiting ..." and then closes the pair, so later
// waits on that pair read "Application timeout caused pair closure": both are timeouts.
bool is_timeout(const std::exception &e) {
  const std::string text = e.what();
  return text.find("imed out") != std::string::npos || text.find("timeout") != std::string::npos;
}

}  // namespace

Transfers::Transfers(gloo::Context &context, std::string name, int timeout_ms)
    : context_(context),
      name_(std::move(name)),
      timeout_ms_(timeout_ms),
      deadline_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms)) {}

std::chrono::milliseconds Transfers::left() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline_ - std::chrono::steady_clock::now());
  // Gloo reads a zero timeout as "use the context default"; wait at least 1 ms instead.
  return std::max(left, std::chrono::milliseconds(1));
}

void Transfers::send(int peer, const void *data, size_t bytes, uint64_t slot) {
  // Gloo's buffers are not const, but a send only reads.
  auto buffer = context_.createUnboundBuffer(const_cast<void *>(data), bytes);
  buffer->send(peer, slot);
  pending_.push_back({std::move(buffer), peer, false});
}

void Transfers::recv(int peer, void *data, size_t bytes, uint64_t slot) {
  auto buffer = context_.createUnboundBuffer(data, bytes);
  buffer->recv(peer, slot);
  pending_.push_back({std::move(buffer), peer, true});
}

Status Transfers::wait() {
  // Step 1: wait for each transfer in turn while time is left.
  std::vector<int> late_recv, late_send;
  Status failure;
  for (Pending &p : pending_) {
    try {
      const bool done = p.is_recv ? p.buffer->waitRecv(nullptr, left())
                                  : p.buffer->waitSend(nullptr, left());
      if (!done) failure = {PROPHET_ERR_COMM, name_ + ": transfer with rank " + std::to_string(p.peer) + " was aborted"};
    } catch (const std::exception &e) {
      if (is_timeout(e)) {
        (p.is_recv ? late_recv : late_send).push_back(p.peer);
      } else if (failure.ok()) {
        failure = {PROPHET_ERR_COMM, name_ + " failed on rank " + std::to_string(context_.rank) +
                                         " with rank " + std::to_string(p.peer) + ": " + e.what()};
      }
    }
  }
  pending_.clear();  // Gloo drops pending transfers of destroyed buffers
  // Step 2: a transport failure wins over timeouts (it usually caused them).
  if (!failure.ok()) return failure;
  if (late_recv.empty() && late_send.empty()) return Status::Ok();
  std::sort(late_recv.begin(), late_recv.end());
  std::sort(late_send.begin(), late_send.end());
  late_recv.erase(std::unique(late_recv.begin(), late_recv.end()), late_recv.end());
  late_send.erase(std::unique(late_send.begin(), late_send.end()), late_send.end());
  std::string message = name_ + " timed out after " + std::to_string(timeout_ms_) + " ms on rank " +
                        std::to_string(context_.rank) + ":";
  if (!late_recv.empty()) message += " ranks " + format_ranks(late_recv) + " never sent";
  if (!late_send.empty()) {
    message += std::string(late_recv.empty() ? "" : ";") + " ranks " + format_ranks(late_send) +
               " never received";
  }
  return {PROPHET_ERR_TIMEOUT, message};
}

}  // namespace prophet::comm
