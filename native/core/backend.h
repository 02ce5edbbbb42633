/*
 * pro-prophet backend ABI.
 *
 * One versioned C interface that every compute backend implements: the CPU backend compiled into
 * the addon, and the CUDA backend built as a separate shared library and loaded at run time. The
 * addon and everything above it talk to a backend only through these tables, the way ggml's
 * backends and onnxruntime's execution providers stay optional.
 *
 * Conventions
 *  - Handles are opaque. A backend defines `struct prophet_buffer` etc. privately.
 *  - Every function returns a prophet_status_t; on failure a human-readable message is available
 *    from `prophet_backend_i.last_error()` on the calling thread, until the next call there.
 *  - `*_async` functions and kernels are stream-ordered: they return once the work is queued.
 *    Failures of queued work are sticky on the stream and are reported by the next
 *    stream_synchronize() (which then clears them), like cudaStreamSynchronize.
 *  - Tables change only by appending slots and bumping PROPHET_BACKEND_API_VERSION.
 *  - Slots marked (optional) may be NULL; callers check them where they are used and report
 *    PROPHET_ERR_UNSUPPORTED naming the slot.
 *  - Thread safety: every function may be called from any thread, including stream callbacks
 *    (launch_host_func), unless stated otherwise. buffer_free in particular must be callable from a
 *    stream callback; a backend that cannot free there (CUDA) defers the free.
 */
#ifndef PROPHET_CORE_BACKEND_H
#define PROPHET_CORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROPHET_BACKEND_API_VERSION 2

typedef enum prophet_status {
  PROPHET_OK = 0,
  PROPHET_ERR_INVALID = 1,     /* bad argument (shape, size, handle) */
  PROPHET_ERR_NOMEM = 2,       /* allocation failed */
  PROPHET_ERR_DEVICE = 3,      /* the device or its runtime failed (maps to ECUDA) */
  PROPHET_ERR_UNSUPPORTED = 4, /* this backend does not implement the request */
  PROPHET_ERR_TIMEOUT = 5,     /* a wait ran past its deadline (maps to ETIMEDOUT) */
  PROPHET_ERR_COMM = 6,        /* a communicator failed (maps to ECOMM / ENCCL) */
  PROPHET_ERR_NOT_READY = 7    /* query only: the work is not finished yet; not a failure */
} prophet_status_t;

typedef struct prophet_buffer *prophet_buffer_t; /* device memory, 64-byte aligned */
typedef struct prophet_stream *prophet_stream_t; /* an in-order queue of work */
typedef struct prophet_event *prophet_event_t;   /* a marker in a stream */

typedef void (*prophet_host_fn)(void *user_data);

/* A host task that can fail: returns PROPHET_OK, or a failure after writing a NUL-terminated
   message of at most message_capacity bytes into `message`. The failure becomes the stream's
   sticky error, reported by the next stream_synchronize(). */
typedef prophet_status_t (*prophet_host_task)(void *user_data, char *message,
                                              size_t message_capacity);

/* Copy directions, as cudaMemcpyKind. "Host" is ordinary process memory. */
typedef enum prophet_copy_kind {
  PROPHET_COPY_HOST_TO_DEVICE = 0,
  PROPHET_COPY_DEVICE_TO_HOST = 1,
  PROPHET_COPY_DEVICE_TO_DEVICE = 2
} prophet_copy_kind_t;

enum { PROPHET_EVENT_DEFAULT = 0, PROPHET_EVENT_TIMING = 1 };

/* Static facts about one device of a backend. Strings are owned by the backend. */
typedef struct prophet_device_info {
  const char *name;            /* e.g. "NVIDIA H200" or the CPU model name */
  int compute_major;           /* CUDA compute capability; 0 for the CPU */
  int compute_minor;
  uint64_t total_memory;       /* bytes */
  int num_cores;               /* SMs on a GPU, hardware threads on the CPU */
} prophet_device_info_t;

/* Device discovery. */
typedef struct prophet_device_i {
  int (*count)(void);
  prophet_status_t (*info)(int device, prophet_device_info_t *out);
} prophet_device_i;

/* Device memory. Buffers are at least 64-byte aligned. A zero-byte buffer is valid. */
typedef struct prophet_buffer_i {
  prophet_status_t (*alloc)(int device, size_t bytes, prophet_buffer_t *out);
  /* May be called from any thread; stream-ordered users must make sure queued work is done or
     hold the buffer alive until it is (the addon does the latter). */
  void (*free)(prophet_buffer_t buffer);
  void *(*device_ptr)(prophet_buffer_t buffer);
  /* Host-visible pointer or NULL when device memory is not addressable from the host. */
  void *(*host_ptr)(prophet_buffer_t buffer);
  size_t (*size)(prophet_buffer_t buffer);
} prophet_buffer_i;

/* Streams: ops on one stream run in order; ops on different streams may run concurrently. */
typedef struct prophet_stream_i {
  /* priority: lower is more urgent, as in CUDA; clamped to priority_range. */
  prophet_status_t (*create)(int device, int priority, prophet_stream_t *out);
  /* Waits for queued work, then releases the stream. */
  void (*destroy)(prophet_stream_t stream);
  /* Blocks the calling thread until all queued work is done; returns and clears the first
     failure of that work. */
  prophet_status_t (*synchronize)(prophet_stream_t stream);
  /* PROPHET_OK when idle, PROPHET_ERR_NOT_READY while work is queued. */
  prophet_status_t (*query)(prophet_stream_t stream);
  void (*priority_range)(int *least, int *greatest);
  /* Runs fn(user_data) on a backend thread once earlier work on the stream is done. fn must not
     block for long and must not call stream-ordered functions of the same stream. */
  prophet_status_t (*launch_host_func)(prophet_stream_t stream, prophet_host_fn fn,
                                       void *user_data);
  /* (optional) Runs task(user_data, ...) on a backend thread in stream order; its failure is
     sticky on the stream. Host-side work that belongs to the stream's order (CPU collectives)
     uses this. Backends whose streams cannot run fallible host work leave it NULL. */
  prophet_status_t (*launch_host_task)(prophet_stream_t stream, prophet_host_task task,
                                       void *user_data);
  /* (optional, v2) The backend's own stream object (a cudaStream_t), for libraries that queue
     work on the stream themselves (NCCL). NULL, or a slot returning NULL, where there is none. */
  void *(*native_handle)(prophet_stream_t stream);
  /* (optional, v2) Makes an out-of-band failure the stream's sticky error, reported (and
     cleared) by the next synchronize(): how a watchdog that aborted a hung NCCL collective tells
     the stream's owner. The first failure wins until it is reported. */
  void (*report_failure)(prophet_stream_t stream, prophet_status_t status, const char *message);
} prophet_stream_i;

/* Events, with cudaEvent semantics: record captures the work queued so far on a stream; a wait on
   a never-recorded event returns at once. */
typedef struct prophet_event_i {
  prophet_status_t (*create)(int device, unsigned flags, prophet_event_t *out);
  void (*destroy)(prophet_event_t event);
  prophet_status_t (*record)(prophet_event_t event, prophet_stream_t stream);
  /* Work queued on `stream` after this call waits for the event; the caller does not block. */
  prophet_status_t (*stream_wait)(prophet_stream_t stream, prophet_event_t event);
  prophet_status_t (*synchronize)(prophet_event_t event);
  prophet_status_t (*query)(prophet_event_t event);
  /* Milliseconds from start to end; both must be complete and created with TIMING. */
  prophet_status_t (*elapsed_ms)(prophet_event_t start, prophet_event_t end, double *ms);
} prophet_event_i;

/* Memory operations, all stream-ordered. Offsets and sizes are in bytes. */
typedef struct prophet_memory_i {
  prophet_status_t (*memset_async)(prophet_buffer_t dst, size_t offset, int value, size_t bytes,
                                   prophet_stream_t stream);
  /* Host memory must stay valid until the copy has run (pin it or hold it). */
  prophet_status_t (*copy_h2d_async)(prophet_buffer_t dst, size_t dst_offset, const void *src,
                                     size_t bytes, prophet_stream_t stream);
  prophet_status_t (*copy_d2h_async)(void *dst, prophet_buffer_t src, size_t src_offset,
                                     size_t bytes, prophet_stream_t stream);
  prophet_status_t (*copy_d2d_async)(prophet_buffer_t dst, size_t dst_offset,
                                     prophet_buffer_t src, size_t src_offset, size_t bytes,
                                     prophet_stream_t stream);
} prophet_memory_i;

struct prophet_kernel_i; /* kernels; see native/core/kernels.h */

/* The whole backend. api_version comes first so that a loader can check it before anything
   else. Returned by the backend's exported prophet_backend_init(). */
typedef struct prophet_backend_i {
  int api_version;     /* PROPHET_BACKEND_API_VERSION the backend was built against */
  const char *name;    /* "cpu", "cuda" */
  const prophet_device_i *device;
  const prophet_buffer_i *buffer;
  const prophet_stream_i *stream;
  const prophet_event_i *event;
  const prophet_memory_i *memory;
  const struct prophet_kernel_i *kernel; /* (optional) NULL until kernels are registered */
  /* Message of the last failure on the calling thread ("" if none). */
  const char *(*last_error)(void);
  /* Counters of the backend's own allocator: live buffers, live bytes, total allocations. */
  void (*memory_stats)(uint64_t *live_buffers, uint64_t *live_bytes, uint64_t *total_allocs);
} prophet_backend_i;

/* What a backend shared library exports (and nothing else).
   prophet_backend_score(): 0 = "no usable device here" (not an error), > 0 = usable.
   prophet_backend_init(): the backend table, or NULL with *reason set. */
typedef int (*prophet_backend_score_fn)(const char **reason);
typedef const prophet_backend_i *(*prophet_backend_init_fn)(const char **reason);

#ifdef __cplusplus
}
#endif

#endif /* PROPHET_CORE_BACKEND_H */
