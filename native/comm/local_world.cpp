#include "local_world.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace prophet::comm {

LocalWorld::Op &LocalWorld::op_for(uint64_t seq, const std::vector<int> &members) {
  auto [it, inserted] = ops_.try_emplace(seq);
  if (inserted) {
    it->second.members = members;
    it->second.posted.assign(static_cast<size_t>(size_), nullptr);
  }
  return it->second;
}

// The op's entry goes once every rank that touched it has left; a poisoned world takes no new
// arrivals, so a failed op is done when the ranks that arrived have left.
void LocalWorld::erase_if_done(uint64_t seq, Op &op, int num_present) {
  if (op.num_left >= num_present) ops_.erase(seq);
}

void LocalWorld::poison(const Status &cause) {
  if (poisoned_.ok()) {
    poisoned_ = {PROPHET_ERR_COMM,
                 "the local world is unusable after an earlier failure (" + cause.message +
                     "); create a new world"};
  }
  changed_.notify_all();
}

namespace {

// Waits for `ready` under `lock`: first a short phase of yields, then the condition variable.
// Ranks of a local world are threads that usually arrive within microseconds of each other;
// yielding hands the core to the rank still on its way and saves the futex sleep and wake-up
// of each waiter (which dominated collectives of about a MiB). The phase is bounded, so an
// absent peer costs at most kYieldWindow of CPU before the blocking wait with its deadline.
//
// But when other busy processes hold every core, a yield hands the core to one of them for a
// whole time slice (milliseconds per collective: a training test ran 10x slower), where a
// sleeping waiter would be woken promptly. So a yield that took longer than kSlowYield (longer
// than any peer's turn in a small collective) turns yielding off in this world for `skip_for`;
// then one yield phase probes again. The pause starts at kMinSkip, doubles (up to kMaxSkip) at
// each probe that finds a slow yield and halves at each phase without one, so it stays long
// while other processes hold the cores most of the time.
//
// The pause is per world and starts short because a slow yield is not always another process:
// with more ranks than cores (4 ranks on 2 cores in the comm benchmark) a peer's turn on the
// core can exceed kSlowYield now and then. A fixed 100 ms process-wide pause after each such
// misfire made every collective of a 1 MiB benchmark a futex sleep and wake-up (30-40% slower);
// a 10 ms one costs about 40 of them. (A test of "did any peer arrive during the slow yield"
// to excuse it failed: with both cores busy elsewhere, the peer on the other core usually has,
// so the rule stopped firing and the W = 4 training test took 40 s instead of 16 s.)
constexpr auto kYieldWindow = std::chrono::microseconds(200);
constexpr auto kSlowYield = std::chrono::milliseconds(1);
constexpr std::chrono::steady_clock::duration kMinSkip = std::chrono::milliseconds(10);
constexpr std::chrono::steady_clock::duration kMaxSkip = std::chrono::milliseconds(160);

template <typename Ready>
void yield_for_peers(std::unique_lock<std::mutex> &lock, YieldRule &rule, Ready ready) {
  using Clock = std::chrono::steady_clock;
  auto now = Clock::now();
  if (now < rule.skip_until) return;
  const auto stop_yielding = now + kYieldWindow;
  bool yielded = false;
  while (!ready() && now < stop_yielding) {
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
    yielded = true;
    const auto after = Clock::now();
    if (after - now > kSlowYield) {
      const auto skip_for = std::max(rule.skip_for, kMinSkip);
      rule.skip_until = after + skip_for;
      rule.skip_for = std::min(2 * skip_for, kMaxSkip);
      return;
    }
    now = after;
  }
  // Only a phase that yielded is a probe (the last rank to arrive finds `ready` at once).
  if (yielded) rule.skip_for = std::max(rule.skip_for / 2, kMinSkip);
}

// Checks what every collective shares: the same collective and root on every member.
std::string common_mismatch(const std::vector<const Posted *> &posted,
                            const std::vector<int> &members) {
  const Posted &first = *posted[members.front()];
  for (int rank : members) {
    const Posted &other = *posted[rank];
    if (std::strcmp(other.collective, first.collective) != 0) {
      return "rank " + std::to_string(members.front()) + " called " + first.collective +
             " but rank " + std::to_string(rank) + " called " + other.collective;
    }
    if (other.root != first.root) {
      return "rank " + std::to_string(members.front()) + " named root " +
             std::to_string(first.root) + " but rank " + std::to_string(rank) + " named root " +
             std::to_string(other.root);
    }
  }
  return "";
}

}  // namespace

Status Session::join(const std::vector<int> &members, const Posted &mine,
                     const Validator &validate) {
  const std::string name = "local " + describe_call(collective_, call_);
  std::unique_lock<std::mutex> lock(world_.mutex_);
  // Step 1: refuse work on a poisoned world.
  if (!world_.poisoned_.ok()) {
    return {PROPHET_ERR_COMM, name + " on rank " + std::to_string(rank_) + ": " +
                                  world_.poisoned_.message};
  }
  // Step 2: find or open the rendezvous of this sequence number; the first arrival fixes members.
  LocalWorld::Op &op = world_.op_for(call_.seq, members);
  if (op.members != members) {
    const Status mismatch{PROPHET_ERR_COMM,
                          name + ": rank " + std::to_string(rank_) + " names members " +
                              format_ranks(members) + " but a peer named " +
                              format_ranks(op.members) +
                              " (every rank must issue the same collectives in the same order)"};
    op.failure = mismatch;
    world_.poison(mismatch);
    world_.erase_if_done(call_.seq, op, op.num_arrived);
    return mismatch;
  }
  op_ = &op;
  // Step 3: post; the last arrival checks that the posts agree and opens the exchange.
  op.posted[rank_] = &mine;
  if (++op.num_arrived == static_cast<int>(members.size())) {
    std::string mismatch = common_mismatch(op.posted, members);
    if (mismatch.empty()) mismatch = validate(op.posted);
    if (mismatch.empty()) {
      op.ready = true;
      world_.changed_.notify_all();
    } else {
      op.failure = {PROPHET_ERR_COMM, name + ": mismatched calls: " + mismatch};
      world_.poison(op.failure);
    }
  }
  // Step 4: wait for the peers, at most the call's timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(call_.timeout_ms);
  const auto arrived = [&] { return op.ready || !op.failure.ok() || !world_.poisoned_.ok(); };
  yield_for_peers(lock, world_.yield_rule_, arrived);
  world_.changed_.wait_until(lock, deadline, arrived);
  if (op.ready) {
    ready_ = true;
    return Status::Ok();
  }
  if (!op.failure.ok()) return op.failure;
  if (!world_.poisoned_.ok()) {
    return {PROPHET_ERR_COMM, name + " on rank " + std::to_string(rank_) + ": " +
                                  world_.poisoned_.message};
  }
  // Step 5: the deadline passed with members missing; fail every rank waiting here.
  op.failure = missing_ranks_timeout(op);
  world_.poison(op.failure);
  return op.failure;
}

Status Session::missing_ranks_timeout(const LocalWorld::Op &op) const {
  std::vector<int> missing, waiting;
  for (int rank : op.members) (op.posted[rank] == nullptr ? missing : waiting).push_back(rank);
  return {PROPHET_ERR_TIMEOUT,
          "local " + describe_call(collective_, call_) + " timed out after " +
              std::to_string(call_.timeout_ms) + " ms on rank " + std::to_string(rank_) +
              ": ranks " + format_ranks(missing) + " never arrived (ranks " +
              format_ranks(waiting) + " were waiting)"};
}

void Session::sync() {
  std::unique_lock<std::mutex> lock(world_.mutex_);
  LocalWorld::Op &op = *op_;
  const int target = op.phase + 1;
  if (++op.num_at_phase == static_cast<int>(op.members.size())) {
    op.num_at_phase = 0;
    op.phase = target;
    world_.changed_.notify_all();
    return;
  }
  const auto passed = [&] { return op.phase >= target; };
  yield_for_peers(lock, world_.yield_rule_, passed);
  world_.changed_.wait(lock, passed);
}

Session::~Session() {
  if (op_ == nullptr) return;
  if (ready_) sync();  // completion barrier: every member has finished reading the others
  std::lock_guard<std::mutex> lock(world_.mutex_);
  ++op_->num_left;
  const int present = ready_ ? static_cast<int>(op_->members.size()) : op_->num_arrived;
  world_.erase_if_done(call_.seq, *op_, present);
}

}  // namespace prophet::comm
