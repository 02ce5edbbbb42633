// The shared state of a `local` world: W ranks that are threads of one process and exchange data
// by reading each other's buffers directly. Each collective is one rendezvous, keyed by its
// sequence number: every member posts its buffers, waits (condition variable, with the call's
// timeout) until all members have posted, copies straight out of the peers' buffers, then waits
// at a completion barrier so that no member frees or reuses a buffer a peer is still reading.
//
// Failure policy: a timeout or a mismatched call poisons the world. Every rank waiting in that
// collective fails with the timeout (PROPHET_ERR_TIMEOUT) or mismatch (PROPHET_ERR_COMM); every
// later collective on any rank fails at once with PROPHET_ERR_COMM naming the first failure.
// A poisoned world stays safe to dispose; create a new one to continue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "communicator.h"

namespace prophet::comm {

// What one rank posts for a collective: its buffers and the arguments peers check.
struct Posted {
  const char *collective = "";
  int root = -1;
  const std::vector<int> *members = nullptr;
  const uint8_t *send = nullptr;
  uint8_t *recv = nullptr;
  size_t bytes = 0;
  const AllToAllVLayout *layout = nullptr;
  float *scratch = nullptr;  // per-rank workspace a collective lets peers read (all-reduce)
};

// Checks the posts of all members (indexed by rank; nullptr for non-members) once all arrived;
// returns "" when they agree, else what differs.
using Validator = std::function<std::string(const std::vector<const Posted *> &)>;

// When the waiters of one world stop yielding the core to each other (see yield_for_peers in the
// .cpp): not before `skip_until`; the next such pause lasts `skip_for`.
struct YieldRule {
  std::chrono::steady_clock::time_point skip_until{};
  std::chrono::steady_clock::duration skip_for{};
};

class LocalWorld {
 public:
  explicit LocalWorld(int size) : size_(size) {}
  int size() const { return size_; }

 private:
  friend class Session;

  struct Op {
    std::vector<int> members;
    std::vector<const Posted *> posted;  // by rank
    int num_arrived = 0;
    bool ready = false;  // every member posted and the posts agree
    Status failure;      // set when the rendezvous failed; then `ready` stays false
    int phase = 0;       // completed phases (sync points) of a ready op
    int num_at_phase = 0;
    int num_left = 0;
  };

  Op &op_for(uint64_t seq, const std::vector<int> &members);
  void erase_if_done(uint64_t seq, Op &op, int num_present);
  void poison(const Status &cause);

  const int size_;
  std::mutex mutex_;
  std::condition_variable changed_;  // any op state or the poison changed
  std::map<uint64_t, Op> ops_;
  Status poisoned_;
  YieldRule yield_rule_;
};

// One rank's part in one collective. join() posts and waits for the peers; the destructor is the
// completion barrier, so peers never read freed buffers whatever path the caller returns by.
class Session {
 public:
  Session(LocalWorld &world, int rank, const Call &call, const char *collective)
      : world_(world), rank_(rank), call_(call), collective_(collective) {}
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  // Posts `mine` and waits for every member of `members` (sorted, containing this rank).
  Status join(const std::vector<int> &members, const Posted &mine, const Validator &validate);
  // The post of member `rank` (valid after a successful join).
  const Posted &peer(int rank) const { return *op_->posted[rank]; }
  // Waits until every member has reached the same sync point. No timeout: after join all
  // members are running and only copy memory, so the wait is bounded.
  void sync();

 private:
  Status missing_ranks_timeout(const LocalWorld::Op &op) const;

  LocalWorld &world_;
  const int rank_;
  const Call call_;
  const char *const collective_;
  LocalWorld::Op *op_ = nullptr;
  bool ready_ = false;
};

}  // namespace prophet::comm
