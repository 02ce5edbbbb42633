// Collectives of the Gloo backend, as point-to-point transfers per call (see gloo.h for why).
#include "gloo.h"

#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "gloo_store.h"
#include "gloo_transfers.h"

namespace prophet::comm {
namespace {

// Where this rank listens for peers: as given, else loopback when the store is on loopback (a
// one-machine job), else this machine's host name (multi-node: peers resolve it).
std::string listen_address(const GlooOptions &options) {
  if (!options.hostname.empty()) return options.hostname;
  const std::string &store = options.store_host;
  if (store == "127.0.0.1" || store == "localhost" || store == "::1") return "127.0.0.1";
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) != 0) return "127.0.0.1";
  return name;
}

std::pair<size_t, size_t> slice(size_t count, size_t part, size_t num_parts) {
  return {count * part / num_parts, count * (part + 1) / num_parts};
}

class GlooCommunicator final : public Communicator {
 public:
  explicit GlooCommunicator(std::shared_ptr<gloo::rendezvous::Context> context)
      : context_(std::move(context)) {}

  int rank() const override { return context_->rank; }
  int size() const override { return context_->size; }
  const char *backend_name() const override { return "gloo"; }

  // Before the data, every pair swaps the byte counts it expects in both directions, so that a
  // mismatched split fails cleanly (ECOMM) instead of corrupting a transfer.
  Status all_to_all_v(const Call &call, const uint8_t *send, uint8_t *recv,
                      const AllToAllVLayout &layout) override {
    return run(call, "allToAllV", [&](const std::string &name) {
      const int n = size(), me = rank();
      // Step 1: swap [I send you, I expect from you] with every peer.
      std::vector<uint64_t> mine(2 * n), theirs(2 * n);
      Transfers sizes(*context_, name, call.timeout_ms);
      for (int p = 0; p < n; ++p) {
        mine[2 * p] = layout.send_bytes[p];
        mine[2 * p + 1] = layout.recv_bytes[p];
        if (p == me) continue;
        sizes.recv(p, &theirs[2 * p], 2 * sizeof(uint64_t), slot_of(call.seq, 0));
        sizes.send(p, &mine[2 * p], 2 * sizeof(uint64_t), slot_of(call.seq, 0));
      }
      if (Status s = sizes.wait(); !s.ok()) return s;
      for (int p = 0; p < n; ++p) {
        if (p == me) continue;
        if (theirs[2 * p] != layout.recv_bytes[p] || theirs[2 * p + 1] != layout.send_bytes[p]) {
          return Status{PROPHET_ERR_COMM,
                        name + ": mismatched calls: rank " + std::to_string(p) + " sends " +
                            std::to_string(theirs[2 * p]) + " bytes to rank " +
                            std::to_string(me) + ", which expects " +
                            std::to_string(layout.recv_bytes[p]) + " (or the other way round)"};
        }
      }
      // Step 2: the data; the own block is a memcpy.
      Transfers data(*context_, name, call.timeout_ms);
      for (int p = 0; p < n; ++p) {
        if (p == me || layout.recv_bytes[p] == 0) continue;
        data.recv(p, recv + layout.recv_offsets[p], layout.recv_bytes[p], slot_of(call.seq, 1));
      }
      for (int p = 0; p < n; ++p) {
        if (p == me || layout.send_bytes[p] == 0) continue;
        data.send(p, send + layout.send_offsets[p], layout.send_bytes[p], slot_of(call.seq, 1));
      }
      if (layout.recv_bytes[me] > 0) {
        std::memcpy(recv + layout.recv_offsets[me], send + layout.send_offsets[me],
                    layout.recv_bytes[me]);
      }
      return data.wait();
    });
  }

  Status all_gather(const Call &call, const uint8_t *send, size_t bytes, uint8_t *recv) override {
    return run(call, "allGather", [&](const std::string &name) {
      if (Status s = agree_on_size(call, name, bytes, everyone()); !s.ok()) return s;
      const int n = size(), me = rank();
      Transfers data(*context_, name, call.timeout_ms);
      if (bytes > 0) {
        for (int p = 0; p < n; ++p) {
          if (p != me) data.recv(p, recv + static_cast<size_t>(p) * bytes, bytes, slot_of(call.seq, 1));
        }
        for (int p = 0; p < n; ++p) {
          if (p != me) data.send(p, send, bytes, slot_of(call.seq, 1));
        }
        std::memcpy(recv + static_cast<size_t>(me) * bytes, send, bytes);
      }
      return data.wait();
    });
  }

  Status broadcast(const Call &call, uint8_t *data, size_t bytes, const Subset &subset) override {
    if (!subset.contains(rank())) return Status::Ok();
    return run(call, "broadcast", [&](const std::string &name) {
      if (Status s = agree_on_size(call, name, bytes, subset.members); !s.ok()) return s;
      Transfers transfers(*context_, name, call.timeout_ms);
      if (bytes > 0) {
        for (int m : subset.members) {
          if (m == subset.root || m == rank()) continue;
          if (rank() == subset.root) transfers.send(m, data, bytes, slot_of(call.seq, 1));
        }
        if (rank() != subset.root) transfers.recv(subset.root, data, bytes, slot_of(call.seq, 1));
      }
      return transfers.wait();
    });
  }

  // The root receives every member's data, then sums in ascending rank order into its own.
  Status reduce_sum_f32(const Call &call, float *data, size_t count,
                        const Subset &subset) override {
    if (!subset.contains(rank())) return Status::Ok();
    return run(call, "reduce", [&](const std::string &name) {
      if (Status s = agree_on_size(call, name, count * sizeof(float), subset.members); !s.ok()) return s;
      Transfers transfers(*context_, name, call.timeout_ms);
      const size_t bytes = count * sizeof(float);
      std::vector<float> scratch;
      std::vector<const float *> inputs;
      if (rank() == subset.root) {
        scratch.resize(count * (subset.members.size() - 1));
        float *next = scratch.data();
        for (int m : subset.members) {
          if (m == rank()) {
            inputs.push_back(data);
            continue;
          }
          if (bytes > 0) transfers.recv(m, next, bytes, slot_of(call.seq, 1));
          inputs.push_back(next);
          next += count;
        }
      } else if (bytes > 0) {
        transfers.send(subset.root, data, bytes, slot_of(call.seq, 1));
      }
      if (Status s = transfers.wait(); !s.ok()) return s;
      if (rank() == subset.root) sum_in_order_f32(inputs.data(), inputs.size(), count, data);
      return Status::Ok();
    });
  }

  // Reduce-scatter then all-gather by slices: rank r sums slice r of every rank (ascending),
  // then sends the result to everyone. Same order as the local backend.
  Status all_reduce_sum_f32(const Call &call, float *data, size_t count) override {
    return run(call, "allReduce", [&](const std::string &name) {
      if (Status s = agree_on_size(call, name, count * sizeof(float), everyone()); !s.ok()) return s;
      const size_t n = static_cast<size_t>(size()), me = static_cast<size_t>(rank());
      const auto [begin, end] = slice(count, me, n);
      const size_t mine = end - begin;
      // Step 1: everyone's slice `me` into scratch.
      std::vector<float> scratch(mine * n);
      Transfers gather(*context_, name, call.timeout_ms);
      for (size_t p = 0; p < n; ++p) {
        if (p == me) continue;
        const auto [pb, pe] = slice(count, p, n);
        if (mine > 0) gather.recv(static_cast<int>(p), &scratch[p * mine], mine * sizeof(float), slot_of(call.seq, 1));
        if (pe > pb) gather.send(static_cast<int>(p), data + pb, (pe - pb) * sizeof(float), slot_of(call.seq, 1));
      }
      if (Status s = gather.wait(); !s.ok()) return s;
      // Step 2: sum in rank order.
      std::vector<const float *> inputs(n);
      for (size_t p = 0; p < n; ++p) inputs[p] = p == me ? data + begin : &scratch[p * mine];
      sum_in_order_f32(inputs.data(), n, mine, data + begin);
      // Step 3: share the summed slices.
      Transfers share(*context_, name, call.timeout_ms);
      for (size_t p = 0; p < n; ++p) {
        if (p == me) continue;
        const auto [pb, pe] = slice(count, p, n);
        if (pe > pb) share.recv(static_cast<int>(p), data + pb, (pe - pb) * sizeof(float), slot_of(call.seq, 2));
        if (mine > 0) share.send(static_cast<int>(p), data + begin, mine * sizeof(float), slot_of(call.seq, 2));
      }
      return share.wait();
    });
  }

  // Every rank swaps a zero count with every other (the size agreement is the barrier): one
  // hop, and every rank names the ranks it waited for.
  Status barrier(const Call &call) override {
    return run(call, "barrier", [&](const std::string &name) {
      return agree_on_size(call, name, 0, everyone());
    });
  }

 private:
  std::vector<int> everyone() const {
    std::vector<int> ranks(static_cast<size_t>(size()));
    for (int r = 0; r < size(); ++r) ranks[static_cast<size_t>(r)] = r;
    return ranks;
  }

  // Every member sends its byte count to every other member and checks what it receives, so a
  // mismatched call fails cleanly (ECOMM) instead of corrupting a transfer, and a missing member
  // is named by every member that waits for it (a star through one leader could only blame the
  // leader).
  Status agree_on_size(const Call &call, const std::string &name, size_t bytes,
                       const std::vector<int> &members) {
    const uint64_t mine = bytes;
    std::vector<uint64_t> counts(members.size(), mine);
    Transfers swap(*context_, name, call.timeout_ms);
    for (size_t i = 0; i < members.size(); ++i) {
      if (members[i] == rank()) continue;
      swap.recv(members[i], &counts[i], sizeof(uint64_t), slot_of(call.seq, 0));
      swap.send(members[i], &mine, sizeof mine, slot_of(call.seq, 0));
    }
    if (Status s = swap.wait(); !s.ok()) return s;
    for (size_t i = 0; i < members.size(); ++i) {
      if (counts[i] != mine) {
        return {PROPHET_ERR_COMM, name + ": mismatched calls: rank " + std::to_string(members[i]) +
                                      " passed " + std::to_string(counts[i]) + " bytes, rank " +
                                      std::to_string(rank()) + " " + std::to_string(mine)};
      }
    }
    return Status::Ok();
  }

  // Runs one collective unless the communicator is poisoned; poisons it on failure (Gloo's
  // slots and connections are in an unknown state after a timeout or a transport error).
  template <typename Body>
  Status run(const Call &call, const char *collective, Body body) {
    const std::string name = "gloo " + describe_call(collective, call);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!poisoned_.ok()) {
        return {PROPHET_ERR_COMM, name + " on rank " + std::to_string(rank()) + ": " + poisoned_.message};
      }
    }
    Status status;
    try {
      status = body(name);
    } catch (const std::exception &e) {
      status = {PROPHET_ERR_COMM, name + " failed on rank " + std::to_string(rank()) + ": " + e.what()};
    }
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (poisoned_.ok()) {
        poisoned_ = {PROPHET_ERR_COMM, "the process group is unusable after an earlier failure (" +
                                           status.message + "); create a new one"};
      }
    }
    return status;
  }

  std::shared_ptr<gloo::rendezvous::Context> context_;
  std::mutex mutex_;
  Status poisoned_;
};

}  // namespace

Status create_gloo_communicator(const GlooOptions &options, std::shared_ptr<Communicator> *out) {
  const std::string where = "gloo process group (rank " + std::to_string(options.rank) + " of " +
                            std::to_string(options.size) + ")";
  try {
    // Step 1: the store, reached within the timeout.
    const std::chrono::milliseconds timeout(options.timeout_ms);
    auto client = std::make_shared<StoreClient>(options.store_host, options.store_port, timeout);
    // Step 2: a world-size check before Gloo's own rendezvous, which would only time out: every
    // rank adds itself to a counter and publishes the size it was given.
    const std::string prefix = options.prefix + "/";
    client->set(prefix + "size/" + std::to_string(options.rank),
                std::vector<char>(reinterpret_cast<const char *>(&options.size),
                                  reinterpret_cast<const char *>(&options.size) + sizeof(int)));
    if (options.rank != 0) {
      const std::vector<char> size0 = client->get(prefix + "size/0", timeout);
      int expected = 0;
      if (size0.size() == sizeof(int)) std::memcpy(&expected, size0.data(), sizeof(int));
      if (expected != options.size) {
        return {PROPHET_ERR_COMM, where + ": rank 0 was started with world size " +
                                      std::to_string(expected) + " but this rank with " +
                                      std::to_string(options.size)};
      }
    }
    // Step 3: Gloo's full-mesh rendezvous over the TCP transport.
    GlooStore store(client, prefix + "gloo/", timeout);
    gloo::transport::tcp::attr attr;
    attr.hostname = listen_address(options);
    auto device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(options.rank, options.size);
    context->setTimeout(timeout);
    context->connectFullMesh(store, device);
    *out = std::make_shared<GlooCommunicator>(std::move(context));
    return Status::Ok();
  } catch (const StoreTimeout &e) {
    return {PROPHET_ERR_TIMEOUT, where + ": " + e.what()};
  } catch (const std::exception &e) {
    const std::string text = e.what();
    const bool timed_out = text.find("imed out") != std::string::npos;
    return {timed_out ? PROPHET_ERR_TIMEOUT : PROPHET_ERR_COMM, where + ": " + text};
  }
}

}  // namespace prophet::comm
