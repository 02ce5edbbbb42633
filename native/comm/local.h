// The `local` backend: W ranks as threads of one process, exchanging through shared memory (see
// local_world.h for the rendezvous and its failure policy).
#pragma once

#include <memory>
#include <vector>

#include "communicator.h"

namespace prophet::comm {

// One communicator per rank of a new world of `size` ranks (size >= 1), sharing one LocalWorld.
std::vector<std::shared_ptr<Communicator>> create_local_world(int size);

}  // namespace prophet::comm
