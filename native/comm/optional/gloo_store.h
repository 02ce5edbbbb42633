// Gloo's rendezvous Store interface over the prophet store client, with a key prefix.
#pragma once

#include <gloo/rendezvous/store.h>

#include <memory>
#include <string>

#include "store_client.h"

namespace prophet::comm {

class GlooStore final : public gloo::rendezvous::Store {
 public:
  GlooStore(std::shared_ptr<StoreClient> client, std::string prefix,
            std::chrono::milliseconds timeout)
      : client_(std::move(client)), prefix_(std::move(prefix)), timeout_(timeout) {}

  void set(const std::string &key, const std::vector<char> &data) override {
    client_->set(prefix_ + key, data);
  }
  std::vector<char> get(const std::string &key) override {
    return client_->get(prefix_ + key, timeout_);
  }
  void wait(const std::vector<std::string> &keys) override { wait(keys, timeout_); }
  // One deadline for all keys: a late key fails the whole wait at `timeout`.
  void wait(const std::vector<std::string> &keys, const std::chrono::milliseconds &timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (const std::string &key : keys) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      client_->wait(prefix_ + key, std::max(left, std::chrono::milliseconds(0)));
    }
  }

 private:
  std::shared_ptr<StoreClient> client_;
  const std::string prefix_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace prophet::comm
