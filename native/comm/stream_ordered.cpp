#include "stream_ordered.h"

#include <cstdio>
#include <exception>
#include <memory>

namespace prophet::comm {
namespace {

prophet_status_t run_task(void *user_data, char *message, size_t message_capacity) {
  std::unique_ptr<std::function<Status()>> collective(
      static_cast<std::function<Status()> *>(user_data));
  Status status;
  try {
    status = (*collective)();
  } catch (const std::exception &e) {
    status = {PROPHET_ERR_COMM, std::string("collective threw: ") + e.what()};
  }
  collective.reset();  // release buffers before the stream reports the work done
  if (!status.ok()) std::snprintf(message, message_capacity, "%s", status.message.c_str());
  return status.code;
}

}  // namespace

Status enqueue_collective(const prophet_backend_i *backend, prophet_stream_t stream,
                          std::function<Status()> collective) {
  if (backend->stream->launch_host_task == nullptr) {
    return {PROPHET_ERR_UNSUPPORTED, std::string("streams of backend '") + backend->name +
                                         "' cannot run host tasks (launch_host_task), which "
                                         "CPU collectives need"};
  }
  auto *owned = new std::function<Status()>(std::move(collective));
  const prophet_status_t status = backend->stream->launch_host_task(stream, run_task, owned);
  if (status != PROPHET_OK) {
    delete owned;
    return {status, backend->last_error()};
  }
  return Status::Ok();
}

}  // namespace prophet::comm
