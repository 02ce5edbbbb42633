// A client of the rendezvous store (the TCP key-value server of `prophet launch`; see
// docs/communication.md for the wire protocol). Used by the Gloo backend to exchange addresses.
//
// Wire protocol: TCP, little-endian, one request then one response, in order, many per connection.
//   request:  u8 op | u32 keyLen | key | u32 valueLen | value | u32 timeoutMs
//   response: u8 status (0 OK, 1 TIMEOUT, 2 ERROR) | u32 len | bytes (value or error message)
//   ops: 1 SET, 2 GET (blocks until the key exists or timeoutMs), 3 WAIT (GET without the value),
//        4 ADD (i64 delta -> new i64 value), 5 CHECK (-> 1 byte), 6 DELETE (-> 1 byte).
// Gloo is not needed to build this file; it is compiled with the optional backend only.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace prophet::comm {

// Thrown when the store answers TIMEOUT or a deadline passes waiting for it.
struct StoreTimeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown for a refused connection, a broken socket or a store ERROR answer.
struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class StoreClient {
 public:
  // Connects to host:port, retrying refused connections until `connect_timeout` passes (the
  // store may start after the ranks). Throws StoreTimeout / StoreError.
  StoreClient(std::string host, int port, std::chrono::milliseconds connect_timeout);
  ~StoreClient();
  StoreClient(const StoreClient &) = delete;
  StoreClient &operator=(const StoreClient &) = delete;

  void set(const std::string &key, const std::vector<char> &value);
  // Blocks until the key exists, at most `timeout`; throws StoreTimeout after.
  std::vector<char> get(const std::string &key, std::chrono::milliseconds timeout);
  void wait(const std::string &key, std::chrono::milliseconds timeout);
  int64_t add(const std::string &key, int64_t delta);
  bool check(const std::string &key);
  bool remove(const std::string &key);

  const std::string &address() const { return address_; }  // "host:port", for messages

 private:
  enum Op : uint8_t { kSet = 1, kGet = 2, kWait = 3, kAdd = 4, kCheck = 5, kDelete = 6 };
  // Sends one request and returns the response's bytes; throws on TIMEOUT/ERROR status.
  std::vector<char> request(Op op, const std::string &key, const std::vector<char> &value,
                            uint32_t timeout_ms);
  void send_all(const std::vector<char> &bytes);
  void recv_all(char *out, size_t bytes, std::chrono::steady_clock::time_point deadline);

  const std::string address_;
  int fd_ = -1;
  std::mutex mutex_;  // one request in flight per connection
};

}  // namespace prophet::comm
