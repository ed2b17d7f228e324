#pragma once
// Tells the event loop that something another process (or, with a shared store, another node)
// changed in the store: a secret, an admin token, the active versions. Each service subscribes
// and reloads what it keeps in memory. Two forms: one polls Store::external_change_counter; on
// PostgreSQL, LISTEN/NOTIFY makes that read happen at once (make_change_feed picks).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "store/store_executor.h"
#include "store/store_location.h"

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
  // On the event loop: read the counter now (a notification came), and again after a read in
  // progress, whose answer may predate what was notified.
  void check_now();
  void set_interval(std::chrono::milliseconds interval);  // from the next tick on

 private:
  void tick();
  void read();
  boost::asio::io_context& io_;
  StoreExecutor& executor_;
  std::chrono::milliseconds interval_;
  boost::asio::steady_timer timer_;
  std::vector<Listener> listeners_;
  std::int64_t last_counter_ = 0;
  bool checking_ = false;  // a read is on the store's queue: one at a time, however slow the store
  bool read_again_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The feed for `where`: on PostgreSQL a connection of its own LISTENs to the store's
// notifications, which wake the counter's read at once, and the polling slows to a safety net
// (it polls every 250 ms again while that connection is down). On SQLite: polling.
struct ChangeFeedIntervals {
  std::chrono::milliseconds polling = PollingChangeFeed::kDefaultInterval;  // SQLite, or nobody listening
  // While listening, the counter is still read this often: a notification lost on the way
  // costs that much delay, never a missed change.
  std::chrono::milliseconds while_listening{5000};
};
std::unique_ptr<ChangeFeed> make_change_feed(boost::asio::io_context& io, StoreExecutor& executor, const StoreLocation& where,
                                             ChangeFeedIntervals intervals = {});

}  // namespace sprocket::store
