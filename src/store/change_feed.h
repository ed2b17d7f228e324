#pragma once
// Tells the event loop that something another process (or, with a shared store, another node)
// changed in the store: a secret, an admin token. Each service subscribes and reloads what it
// keeps in memory. The one form today polls Store::external_change_counter; a PostgreSQL store
// will get one that waits on LISTEN/NOTIFY behind the same interface.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "store/store_executor.h"

namespace sprocket::store {

class ChangeFeed {
 public:
  using Listener = std::function<void()>;  // called on the event loop, after a change
  virtual ~ChangeFeed() = default;
  virtual void subscribe(Listener listener) = 0;  // before the event loop runs
  virtual void start() = 0;  // takes the baseline now (blocks on the store's thread): start before loading
  virtual void stop() = 0;
};

// Reads the counter on the store's thread every `interval` (never on the event loop); a
// change reaches every listener once, however many commits made it.
class PollingChangeFeed : public ChangeFeed {
 public:
  static constexpr std::chrono::milliseconds kDefaultInterval{250};
  PollingChangeFeed(boost::asio::io_context& io, StoreExecutor& executor, std::chrono::milliseconds interval = kDefaultInterval);
  ~PollingChangeFeed() override { stop(); }
  void subscribe(Listener listener) override { listeners_.push_back(std::move(listener)); }
  void start() override;
  void stop() override;

 private:
  void tick();
  boost::asio::io_context& io_;
  StoreExecutor& executor_;
  std::chrono::milliseconds interval_;
  boost::asio::steady_timer timer_;
  std::vector<Listener> listeners_;
  std::int64_t last_counter_ = 0;
  bool checking_ = false;  // a read is on the store's queue: one at a time, however slow the store
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sprocket::store
