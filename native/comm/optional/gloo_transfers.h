// The point-to-point transfers of one Gloo collective call, awaited together against the call's
// deadline. Failures are classified: a peer that did not answer in time -> PROPHET_ERR_TIMEOUT
// naming those ranks; a broken connection or other transport error -> PROPHET_ERR_COMM.
#pragma once

#include <gloo/context.h>
#include <gloo/transport/unbound_buffer.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../communicator.h"

namespace prophet::comm {

class Transfers {
 public:
  // `name` is how messages name the call ("gloo allToAllV #4"); the deadline starts now.
  Transfers(gloo::Context &context, std::string name, int timeout_ms);

  // Queue a send/receive of `bytes` with `peer` on `slot` (both sides use the same slot).
  // Zero-byte transfers are skipped by the callers on both sides.
  void send(int peer, const void *data, size_t bytes, uint64_t slot);
  void recv(int peer, void *data, size_t bytes, uint64_t slot);
  // Waits for everything queued so far; the transfers are done (or abandoned) after it returns.
  Status wait();

 private:
  struct Pending {
    std::unique_ptr<gloo::transport::UnboundBuffer> buffer;
    int peer;
    bool is_recv;
  };
  std::chrono::milliseconds left() const;

  gloo::Context &context_;
  const std::string name_;
  const int timeout_ms_;
  const std::chrono::steady_clock::time_point deadline_;
  std::vector<Pending> pending_;
};

// The Gloo slot (message tag) of phase `phase` (< 16) of the call numbered `seq`: distinct calls
// and phases never share a slot, so calls queued on two streams cannot take each other's data.
inline uint64_t slot_of(uint64_t seq, unsigned phase) { return (seq << 4) | phase; }

}  // namespace prophet::comm
