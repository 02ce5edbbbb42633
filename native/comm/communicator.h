// The communicator interface: one rank's handle on a group of W ranks that run collectives
// together. Backends (local = ranks as threads of one process; gloo = ranks as processes over TCP)
// implement the blocking collectives below; stream_ordered.h turns each call into a fallible host
// task on a stream, so callers see stream-ordered, asynchronous collectives.
//
// Contract shared by every backend
//  - Every rank issues the same collectives in the same order. The caller numbers them with
//    `Call::seq` (next_sequence(), taken at enqueue time), so that collectives queued on two
//    streams still pair up with the right peers.
//  - Subset collectives (broadcast, reduce) are called by every rank with the same member list;
//    non-members only consume a sequence number and do nothing else.
//  - Every call waits for peers at most `Call::timeout_ms`; a peer that never arrives fails the call
//    with PROPHET_ERR_TIMEOUT naming the collective, the sequence number and the missing ranks.
//    Mismatched calls (different collective, sizes, root or members) fail with PROPHET_ERR_COMM.
//  - After any failure the communicator is poisoned: later calls fail at once with
//    PROPHET_ERR_COMM naming the first failure. Create a new communicator to continue.
//  - Reductions sum fp32 in a fixed order (ascending rank), so results are bitwise reproducible
//    and identical on every rank.
//  - Buffers are host memory that stays valid until the call returns.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/backend.h"

namespace prophet::comm {

// A status with its message: what a blocking collective returns.
struct Status {
  prophet_status_t code = PROPHET_OK;
  std::string message;
  bool ok() const { return code == PROPHET_OK; }
  static Status Ok() { return {}; }
};

// Identifies one collective of one rank.
struct Call {
  uint64_t seq = 0;     // position in the group-wide call order (0, 1, 2, ...)
  int timeout_ms = 0;   // how long to wait for peers, from the moment the call starts running
};

// The byte layout of an all-to-all-v on one rank; every vector has one entry per peer rank.
// Data for peer p is send[send_offsets[p], +send_bytes[p]); data from peer p lands in
// recv[recv_offsets[p], +recv_bytes[p]). recv_bytes[p] must equal peer p's send_bytes[rank].
struct AllToAllVLayout {
  std::vector<size_t> send_offsets, send_bytes;
  std::vector<size_t> recv_offsets, recv_bytes;
};

// The ranks that take part in a subset collective: sorted, unique, containing the root.
struct Subset {
  int root = 0;
  std::vector<int> members;
  bool contains(int rank) const;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char *backend_name() const = 0;  // "local", "gloo"

  // The next sequence number of this rank (atomic: streams may enqueue from one thread only, but
  // a caller might number calls from several).
  uint64_t next_sequence() { return next_seq_.fetch_add(1); }

  // Blocking collectives; see the contract above. Sizes are bytes unless a name says otherwise.

  // Sends layout.send_bytes[p] bytes to every peer p and receives layout.recv_bytes[p] from each.
  virtual Status all_to_all_v(const Call &call, const uint8_t *send, uint8_t *recv,
                              const AllToAllVLayout &layout) = 0;
  // recv[p * bytes, +bytes) = send of rank p, for every rank p. send and recv must not overlap.
  virtual Status all_gather(const Call &call, const uint8_t *send, size_t bytes,
                            uint8_t *recv) = 0;
  // Copies the root's data[0, bytes) into data on every member (in place).
  virtual Status broadcast(const Call &call, uint8_t *data, size_t bytes,
                           const Subset &subset) = 0;
  // On the root, data[i] = sum over members m (ascending) of data_m[i]; members' data unchanged.
  virtual Status reduce_sum_f32(const Call &call, float *data, size_t count,
                                const Subset &subset) = 0;
  // data[i] = sum over ranks r (ascending) of data_r[i], on every rank (in place).
  virtual Status all_reduce_sum_f32(const Call &call, float *data, size_t count) = 0;
  // Returns once every rank has entered the barrier.
  virtual Status barrier(const Call &call) = 0;

 private:
  std::atomic<uint64_t> next_seq_{0};
};

// "allToAllV #7": how messages name one collective.
std::string describe_call(const char *collective, const Call &call);

// "[1, 3]"
std::string format_ranks(const std::vector<int> &ranks);

// Sums `count` floats of inputs[0], inputs[1], ... (in that order) into out; `out` may alias any
// input. The summation order is fixed: ((in0 + in1) + in2) + ..., element by element.
void sum_in_order_f32(const float *const *inputs, size_t num_inputs, size_t count, float *out);

}  // namespace prophet::comm
