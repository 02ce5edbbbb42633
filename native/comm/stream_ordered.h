// Turns a blocking collective into stream-ordered work: it runs as a fallible host task
// (prophet_stream_i.launch_host_task) after the work queued before it, and its failure becomes the
// stream's sticky error, reported by the next synchronize() (ETIMEDOUT / ECOMM in JS).
#pragma once

#include <functional>

#include "../core/backend.h"
#include "communicator.h"

namespace prophet::comm {

// Queues `collective` on `stream`. The closure owns what the collective touches (buffer
// references, layouts) and is destroyed on the stream's thread right after it ran, which releases
// them. Fails with PROPHET_ERR_UNSUPPORTED when the backend's streams cannot run host tasks.
Status enqueue_collective(const prophet_backend_i *backend, prophet_stream_t stream,
                          std::function<Status()> collective);

}  // namespace prophet::comm
