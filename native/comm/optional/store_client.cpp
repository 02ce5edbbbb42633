#include "store_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace prophet::comm {
namespace {

using Clock = std::chrono::steady_clock;

// The store answers a blocking GET/WAIT within its timeout; allow this much more for the answer
// to travel before the client calls the store unresponsive.
constexpr std::chrono::milliseconds kResponseGrace{10000};
constexpr std::chrono::milliseconds kConnectRetryDelay{50};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
}

void put_u32(std::vector<char> &out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(const char *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

// One connection attempt with a deadline; returns the socket or -1 with errno set.
int try_connect(const addrinfo *ai, Clock::time_point deadline) {
  const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) return -1;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
    const int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int error = 0;
  socklen_t length = sizeof error;
  if (poll(&p, 1, remaining_ms(deadline)) != 1 ||
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
    close(fd);
    errno = error != 0 ? error : ETIMEDOUT;
    return -1;
  }
  // The socket stays non-blocking: sends and receives wait with poll() and a deadline.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

StoreClient::StoreClient(std::string host, int port, std::chrono::milliseconds connect_timeout)
    : address_(host + ":" + std::to_string(port)) {
  const auto deadline = Clock::now() + connect_timeout;
  std::string last_error = "no address";
  // Step 1: resolve, then retry refused connections until the deadline (the store may be late).
  for (;;) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *found = nullptr;
    const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc != 0) throw StoreError("cannot resolve store host " + address_ + ": " + gai_strerror(rc));
    for (addrinfo *ai = found; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
      fd_ = try_connect(ai, deadline);
      if (fd_ < 0) last_error = std::strerror(errno);
    }
    freeaddrinfo(found);
    if (fd_ >= 0) break;
    if (Clock::now() + kConnectRetryDelay >= deadline) {
      throw StoreTimeout("cannot reach the rendezvous store at " + address_ + " within " +
                         std::to_string(connect_timeout.count()) + " ms (" + last_error + ")");
    }
    std::this_thread::sleep_for(kConnectRetryDelay);
  }
}

StoreClient::~StoreClient() {
  if (fd_ >= 0) close(fd_);
}

void StoreClient::send_all(const std::vector<char> &bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, static_cast<int>(kResponseGrace.count())) != 1) {
        throw StoreError("the rendezvous store at " + address_ + " stopped reading requests");
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      throw StoreError("lost the connection to the rendezvous store at " + address_ + ": " +
                       std::strerror(errno));
    }
  }
}

void StoreClient::recv_all(char *out, size_t bytes, Clock::time_point deadline) {
  size_t got = 0;
  while (got < bytes) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, remaining_ms(deadline));
    if (ready == 0) {
      throw StoreTimeout("no answer from the rendezvous store at " + address_);
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw StoreError("poll on the rendezvous store connection failed: " +
                       std::string(std::strerror(errno)));
    }
    const ssize_t n = ::recv(fd_, out + got, bytes - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      continue;
    } else {
      throw StoreError("the rendezvous store at " + address_ + " closed the connection");
    }
  }
}

std::vector<char> StoreClient::request(Op op, const std::string &key,
                                       const std::vector<char> &value, uint32_t timeout_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Step 1: u8 op | u32 keyLen | key | u32 valueLen | value | u32 timeoutMs
  std::vector<char> message;
  message.reserve(13 + key.size() + value.size());
  message.push_back(static_cast<char>(op));
  put_u32(message, static_cast<uint32_t>(key.size()));
  message.insert(message.end(), key.begin(), key.end());
  put_u32(message, static_cast<uint32_t>(value.size()));
  message.insert(message.end(), value.begin(), value.end());
  put_u32(message, timeout_ms);
  send_all(message);
  // Step 2: u8 status | u32 len | bytes, within the request's own timeout plus a grace period.
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms) + kResponseGrace;
  char header[5];
  recv_all(header, sizeof header, deadline);
  std::vector<char> body(get_u32(header + 1));
  recv_all(body.data(), body.size(), deadline);
  const auto status = static_cast<uint8_t>(header[0]);
  if (status == 0) return body;
  const std::string text(body.begin(), body.end());
  if (status == 1) {
    throw StoreTimeout("timed out after " + std::to_string(timeout_ms) + " ms waiting for key '" +
                       key + "' in the rendezvous store at " + address_);
  }
  throw StoreError("the rendezvous store at " + address_ + " refused '" + key + "': " + text);
}

void StoreClient::set(const std::string &key, const std::vector<char> &value) {
  request(kSet, key, value, 0);
}

std::vector<char> StoreClient::get(const std::string &key, std::chrono::milliseconds timeout) {
  return request(kGet, key, {}, static_cast<uint32_t>(std::max<int64_t>(timeout.count(), 0)));
}

void StoreClient::wait(const std::string &key, std::chrono::milliseconds timeout) {
  request(kWait, key, {}, static_cast<uint32_t>(std::max<int64_t>(timeout.count(), 0)));
}

int64_t StoreClient::add(const std::string &key, int64_t delta) {
  std::vector<char> value(8);
  for (int i = 0; i < 8; ++i) value[i] = static_cast<char>((static_cast<uint64_t>(delta) >> (8 * i)) & 0xff);
  const std::vector<char> answer = request(kAdd, key, value, 0);
  if (answer.size() != 8) throw StoreError("ADD answered " + std::to_string(answer.size()) + " bytes, expected 8");
  uint64_t result = 0;
  for (int i = 0; i < 8; ++i) result |= static_cast<uint64_t>(static_cast<uint8_t>(answer[i])) << (8 * i);
  return static_cast<int64_t>(result);
}

bool StoreClient::check(const std::string &key) {
  const std::vector<char> answer = request(kCheck, key, {}, 0);
  return !answer.empty() && answer[0] == 1;
}

bool StoreClient::remove(const std::string &key) {
  const std::vector<char> answer = request(kDelete, key, {}, 0);
  return !answer.empty() && answer[0] == 1;
}

}  // namespace prophet::comm
