// A cache of freed large host blocks for the CPU backend's buffers, so that a training loop,
// which allocates the same activation and exchange buffers every step, reuses memory instead of
// taking fresh pages from the kernel each time (glibc maps blocks of 128 KiB and more afresh and
// returns them on free: 8 MiB of new pages costs ~2 ms of page faults on the thread that first
// writes them). The CUDA backend's stream-ordered pool plays the same part on the device.
//
// Safe without stream ordering: a buffer is freed only when the last queued operation holding it
// has run (the addon's buffer references), so a cached block is never in use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace prophet::cpu {

class BlockCache {
 public:
  // Blocks below this size are left to malloc, whose small-block arenas already reuse memory.
  static constexpr size_t kMinCachedBytes = size_t{128} << 10;

  // max_cached_bytes: the most the cache holds; 0 disables it.
  explicit BlockCache(size_t max_cached_bytes) : max_cached_bytes_(max_cached_bytes) {}
  ~BlockCache();
  BlockCache(const BlockCache &) = delete;
  BlockCache &operator=(const BlockCache &) = delete;

  // The size a request of `bytes` is served with: large requests round up to one of eight size
  // classes per power of two (at most 12.5% more), so that buffers whose size moves a little
  // from step to step (token counts per expert) still find one another's blocks.
  static size_t block_size(size_t bytes);

  // A block of block_size(bytes) bytes aligned to `alignment` (the cached one of that size freed
  // last, when there is one), or nullptr when memory is exhausted even after the cache was
  // emptied.
  void *allocate(size_t bytes, size_t alignment);
  // Returns a block from allocate(bytes): cached, or released when it is small or the cache
  // would exceed its cap.
  void release(void *block, size_t bytes);
  // Frees every cached block.
  void clear();
  size_t cached_bytes() const;

 private:
  size_t max_cached_bytes_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void *> blocks_;  // block size -> cached block
  size_t cached_bytes_ = 0;
};

// The cache every CPU buffer goes through; its cap is PROPHET_CPU_CACHE_BYTES when set (0
// disables caching), else 2 GiB or an eighth of physical memory, whichever is less.
BlockCache &buffer_block_cache();

}  // namespace prophet::cpu
