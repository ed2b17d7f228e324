#include "store/change_feed.h"

#include <boost/asio/post.hpp>
#include <future>
#include <utility>

namespace sprocket::store {
namespace asio = boost::asio;

PollingChangeFeed::PollingChangeFeed(asio::io_context& io, StoreExecutor& executor, std::chrono::milliseconds interval)
    : io_(io), executor_(executor), interval_(interval), timer_(io) {}

void PollingChangeFeed::start() {
  // The baseline: what the services loaded at start-up is current as of now.
  std::promise<std::int64_t> counter;
  executor_.post([&counter](Store& s) {
    try {
      counter.set_value(s.external_change_counter());
    } catch (...) {
      counter.set_value(-1);  // unreadable now: the first successful read counts as a change
    }
  });
  last_counter_ = counter.get_future().get();
  tick();
}

void PollingChangeFeed::stop() {
  *alive_ = false;
  timer_.cancel();
}

void PollingChangeFeed::tick() {
  timer_.expires_after(interval_);
  timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    auto live = alive.lock();
    if (ec || !live || !*live) return;
    read();
    tick();
  });
}

void PollingChangeFeed::check_now() {
  if (*alive_) read();
}

void PollingChangeFeed::set_interval(std::chrono::milliseconds interval) {
  interval_ = interval;
  if (*alive_) tick();  // re-arms the timer (the wait in progress is cancelled)
}

void PollingChangeFeed::read() {
  if (checking_) {
    read_again_ = true;
    return;
  }
  checking_ = true;
  executor_.post([&io = io_, this, alive = std::weak_ptr<bool>(alive_), previous = last_counter_](Store& s) {
    std::int64_t counter = previous;
    try {
      counter = s.external_change_counter();
    } catch (const std::exception&) {
      // unreadable for now (busy, I/O): the next tick tries again
    }
    asio::post(io, [this, alive, counter] {
      auto live = alive.lock();
      if (!live || !*live) return;
      checking_ = false;
      if (counter != last_counter_) {
        last_counter_ = counter;
        for (auto& listener : listeners_) listener();
      }
      if (std::exchange(read_again_, false)) read();
    });
  });
}

}  // namespace sprocket::store
