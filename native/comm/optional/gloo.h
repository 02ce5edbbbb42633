// The multi-process CPU backend on Gloo (Debian's libgloo-dev): ranks are processes that find
// each other through the rendezvous store (store_client.h) and exchange over Gloo's TCP
// transport. Compiled only when binding.gyp finds Gloo (scripts/detect-gloo.mjs).
//
// Collectives are built from Gloo's point-to-point unbound buffers with per-call deadlines, not
// from Gloo's collective algorithms, so that (1) every wait honours the call's timeout and names
// the ranks that did not answer, (2) subsets (Trans/Agg) need no extra contexts, and
// (3) reductions sum in ascending rank order exactly like the local backend (bitwise identical
// results on every rank and across backends).
#pragma once

#include <memory>
#include <string>

#include "../communicator.h"

namespace prophet::comm {

struct GlooOptions {
  int rank = 0;
  int size = 1;
  std::string store_host;  // the rendezvous store (MASTER_ADDR)
  int store_port = 0;      // (MASTER_PORT)
  int timeout_ms = 0;      // for reaching the store, the peers, and the default of collectives
  std::string prefix;      // store key prefix, so several groups can share one store
  std::string hostname;    // the address this rank listens on for its peers ("" = default:
                           // loopback for a loopback store, else gethostname())
};

// Connects to the store, publishes this rank's address, and connects to every peer. Blocks up
// to about options.timeout_ms; fails with PROPHET_ERR_TIMEOUT (store or peers unreachable in
// time) or PROPHET_ERR_COMM (refused, wrong world size, transport errors).
Status create_gloo_communicator(const GlooOptions &options, std::shared_ptr<Communicator> *out);

}  // namespace prophet::comm
