#include "cpu_block_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <vector>

namespace prophet::cpu {
namespace {

constexpr int kClassesPerDoubling = 8;
constexpr size_t kMostDefaultCachedBytes = size_t{2} << 30;

// 2 GiB, or an eighth of physical memory on smaller machines: idle cached blocks must not
// crowd out the rest of the process there.
size_t default_max_cached_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return kMostDefaultCachedBytes;
  return std::min(kMostDefaultCachedBytes, static_cast<size_t>(pages) * page_size / 8);
}

size_t max_cached_bytes_from_env() {
  const char *value = std::getenv("PROPHET_CPU_CACHE_BYTES");
  if (value == nullptr || *value == '\0') return default_max_cached_bytes();
  char *end = nullptr;
  const unsigned long long parsed = std::strtoull(value, &end, 10);
  // A malformed value must not silently cache without bound: fall back to the default.
  return *end == '\0' ? static_cast<size_t>(parsed) : default_max_cached_bytes();
}

}  // namespace

BlockCache::~BlockCache() { clear(); }

size_t BlockCache::block_size(size_t bytes) {
  // Beyond half the address space no rounding is safe (nor would the allocation succeed).
  if (bytes < kMinCachedBytes || bytes > SIZE_MAX / 2) return bytes;
  size_t power = kMinCachedBytes;  // the largest power of two <= bytes
  while (power <= bytes / 2) power *= 2;
  const size_t step = power / kClassesPerDoubling;
  return (bytes + step - 1) / step * step;
}

void *BlockCache::allocate(size_t bytes, size_t alignment) {
  const size_t size = block_size(bytes);
  if (size >= kMinCachedBytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    // The block freed last (inserted at the end of its size's range): likeliest still in cache.
    const auto [first, end] = blocks_.equal_range(size);
    if (first != end) {
      const auto found = std::prev(end);
      void *block = found->second;
      blocks_.erase(found);
      cached_bytes_ -= size;
      return block;
    }
  }
  // aligned_alloc wants a multiple of the alignment.
  if (size > SIZE_MAX - alignment) return nullptr;
  const size_t rounded = (size + alignment - 1) / alignment * alignment;
  if (void *block = std::aligned_alloc(alignment, rounded)) return block;
  clear();  // memory held by the cache may be what this request needs
  return std::aligned_alloc(alignment, rounded);
}

void BlockCache::release(void *block, size_t bytes) {
  if (block == nullptr) return;
  const size_t size = block_size(bytes);
  if (size >= kMinCachedBytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_bytes_ + size <= max_cached_bytes_) {
      blocks_.emplace(size, block);
      cached_bytes_ += size;
      return;
    }
  }
  std::free(block);
}

void BlockCache::clear() {
  std::vector<void *> freed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto &entry : blocks_) freed.push_back(entry.second);
    blocks_.clear();
    cached_bytes_ = 0;
  }
  for (void *block : freed) std::free(block);
}

size_t BlockCache::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_bytes_;
}

BlockCache &buffer_block_cache() {
  // Never destroyed: buffers freed by finalizers at exit may still return blocks to it.
  static BlockCache *const cache = new BlockCache(max_cached_bytes_from_env());
  return *cache;
}

}  // namespace prophet::cpu
