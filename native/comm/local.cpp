// Collectives of the `local` backend. Every rank pulls what it needs straight out of its peers'
// buffers (one memcpy per peer), so an exchange costs about one memcpy of the bytes received.
//
// In every collective the Session is declared after the rank's post (and scratch): its destructor
// is the completion barrier, which must run while what peers read is still alive.
#include "local.h"

#include <algorithm>
#include <cstring>

#include "local_world.h"

namespace prophet::comm {
namespace {

std::vector<int> all_ranks(int size) {
  std::vector<int> ranks(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) ranks[static_cast<size_t>(r)] = r;
  return ranks;
}

// "" when every member posted the same byte count, else which ranks differ.
std::string same_bytes(const std::vector<const Posted *> &posted, const std::vector<int> &members,
                       const char *what) {
  const size_t expected = posted[members.front()]->bytes;
  for (int rank : members) {
    if (posted[rank]->bytes != expected) {
      return std::string(what) + " differs: rank " + std::to_string(members.front()) + " has " +
             std::to_string(expected) + ", rank " + std::to_string(rank) + " has " +
             std::to_string(posted[rank]->bytes);
    }
  }
  return "";
}

// The range [begin, end) of `count` items that part `part` of `num_parts` owns.
std::pair<size_t, size_t> slice(size_t count, size_t part, size_t num_parts) {
  return {count * part / num_parts, count * (part + 1) / num_parts};
}

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(std::shared_ptr<LocalWorld> world, int rank)
      : world_(std::move(world)), rank_(rank), everyone_(all_ranks(world_->size())) {}

  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  const char *backend_name() const override { return "local"; }

  Status all_to_all_v(const Call &call, const uint8_t *send, uint8_t *recv,
                      const AllToAllVLayout &layout) override {
    // The own block needs no peer: copy it before the rendezvous, while peers are still arriving.
    if (layout.recv_bytes[rank_] == layout.send_bytes[rank_] && layout.recv_bytes[rank_] > 0) {
      std::memcpy(recv + layout.recv_offsets[rank_], send + layout.send_offsets[rank_],
                  layout.recv_bytes[rank_]);
    }
    Posted mine{"allToAllV", -1, &everyone_, send, recv, 0, &layout, nullptr};
    Session session(*world_, rank_, call, "allToAllV");
    Status status = session.join(everyone_, mine, [this](const std::vector<const Posted *> &p) {
      return matching_splits(p);
    });
    if (!status.ok()) return status;
    // Start at the next rank so that ranks read different peers at the same time.
    const int n = size();
    for (int step = 1; step < n; ++step) {
      const int peer = (rank_ + step) % n;
      const size_t bytes = layout.recv_bytes[peer];
      if (bytes == 0) continue;
      const Posted &from = session.peer(peer);
      std::memcpy(recv + layout.recv_offsets[peer], from.send + from.layout->send_offsets[rank_],
                  bytes);
    }
    return Status::Ok();
  }

  Status all_gather(const Call &call, const uint8_t *send, size_t bytes, uint8_t *recv) override {
    if (bytes > 0) std::memcpy(recv + static_cast<size_t>(rank_) * bytes, send, bytes);  // own block first
    Posted mine{"allGather", -1, &everyone_, send, recv, bytes, nullptr, nullptr};
    Session session(*world_, rank_, call, "allGather");
    Status status = session.join(everyone_, mine, [this](const std::vector<const Posted *> &p) {
      return same_bytes(p, everyone_, "the byte count of allGather");
    });
    if (!status.ok()) return status;
    const int n = size();
    for (int step = 1; step < n; ++step) {
      const int peer = (rank_ + step) % n;
      if (bytes > 0) std::memcpy(recv + static_cast<size_t>(peer) * bytes, session.peer(peer).send, bytes);
    }
    return Status::Ok();
  }

  Status broadcast(const Call &call, uint8_t *data, size_t bytes, const Subset &subset) override {
    if (!subset.contains(rank_)) return Status::Ok();
    Posted mine{"broadcast", subset.root, &subset.members, data, data, bytes, nullptr, nullptr};
    Session session(*world_, rank_, call, "broadcast");
    Status status = session.join(subset.members, mine, [&](const std::vector<const Posted *> &p) {
      return same_bytes(p, subset.members, "the byte count of broadcast");
    });
    if (!status.ok()) return status;
    if (rank_ != subset.root && bytes > 0) std::memcpy(data, session.peer(subset.root).send, bytes);
    return Status::Ok();
  }

  // Each member sums its own slice of the elements into the root's buffer, reading the slice of
  // every member in ascending rank order: the work is shared and the order fixed.
  Status reduce_sum_f32(const Call &call, float *data, size_t count,
                        const Subset &subset) override {
    if (!subset.contains(rank_)) return Status::Ok();
    auto *bytes = reinterpret_cast<uint8_t *>(data);
    Posted mine{"reduce", subset.root, &subset.members, bytes, bytes, count * sizeof(float),
                nullptr, nullptr};
    Session session(*world_, rank_, call, "reduce");
    Status status = session.join(subset.members, mine, [&](const std::vector<const Posted *> &p) {
      return same_bytes(p, subset.members, "the element count of reduce");
    });
    if (!status.ok()) return status;
    const size_t index = static_cast<size_t>(
        std::lower_bound(subset.members.begin(), subset.members.end(), rank_) -
        subset.members.begin());
    const auto [begin, end] = slice(count, index, subset.members.size());
    std::vector<const float *> inputs;
    for (int member : subset.members) {
      inputs.push_back(reinterpret_cast<const float *>(session.peer(member).send) + begin);
    }
    float *root = reinterpret_cast<float *>(session.peer(subset.root).recv);
    sum_in_order_f32(inputs.data(), inputs.size(), end - begin, root + begin);
    return Status::Ok();
  }

  // In place on every rank, so a rank may not write its buffer while peers still read it:
  // (1) rank r sums slice r of every rank into its scratch, (2) sync, (3) every rank copies all
  // slices from their owners' scratch.
  Status all_reduce_sum_f32(const Call &call, float *data, size_t count) override {
    const size_t n = static_cast<size_t>(size());
    const auto [begin, end] = slice(count, static_cast<size_t>(rank_), n);
    std::vector<float> scratch(end - begin);
    auto *bytes = reinterpret_cast<uint8_t *>(data);
    Posted mine{"allReduce", -1, &everyone_, bytes, bytes, count * sizeof(float), nullptr,
                scratch.data()};
    Session session(*world_, rank_, call, "allReduce");
    Status status = session.join(everyone_, mine, [this](const std::vector<const Posted *> &p) {
      return same_bytes(p, everyone_, "the element count of allReduce");
    });
    if (!status.ok()) return status;
    std::vector<const float *> inputs;
    for (int r : everyone_) {
      inputs.push_back(reinterpret_cast<const float *>(session.peer(r).send) + begin);
    }
    sum_in_order_f32(inputs.data(), inputs.size(), end - begin, scratch.data());
    session.sync();
    for (size_t step = 0; step < n; ++step) {
      const size_t owner = (static_cast<size_t>(rank_) + step) % n;
      const auto [owner_begin, owner_end] = slice(count, owner, n);
      if (owner_end > owner_begin) {
        std::memcpy(data + owner_begin, session.peer(static_cast<int>(owner)).scratch,
                    (owner_end - owner_begin) * sizeof(float));
      }
    }
    return Status::Ok();  // the session's destructor keeps `scratch` alive until all copied
  }

  Status barrier(const Call &call) override {
    Posted mine{"barrier", -1, &everyone_, nullptr, nullptr, 0, nullptr, nullptr};
    Session session(*world_, rank_, call, "barrier");
    return session.join(everyone_, mine, [](const std::vector<const Posted *> &) {
      return std::string();
    });
  }

 private:
  // Rank r's send to p must be exactly what p expects from r.
  std::string matching_splits(const std::vector<const Posted *> &posted) const {
    for (int from : everyone_) {
      for (int to : everyone_) {
        const size_t sent = posted[from]->layout->send_bytes[to];
        const size_t expected = posted[to]->layout->recv_bytes[from];
        if (sent != expected) {
          return "rank " + std::to_string(from) + " sends " + std::to_string(sent) +
                 " bytes to rank " + std::to_string(to) + ", which expects " +
                 std::to_string(expected);
        }
      }
    }
    return "";
  }

  const std::shared_ptr<LocalWorld> world_;
  const int rank_;
  const std::vector<int> everyone_;
};

}  // namespace

std::vector<std::shared_ptr<Communicator>> create_local_world(int size) {
  auto world = std::make_shared<LocalWorld>(size);
  std::vector<std::shared_ptr<Communicator>> ranks;
  for (int r = 0; r < size; ++r) ranks.push_back(std::make_shared<LocalCommunicator>(world, r));
  return ranks;
}

}  // namespace prophet::comm
