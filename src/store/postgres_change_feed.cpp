// The PostgreSQL form of the change feed: the store's triggers NOTIFY sprocket_changes (see
// postgres_store.cpp), and a thread here LISTENs on a connection of its own. A notification
// only makes the counter's read happen now: the counter stays the truth, so a change is
// reported once however it was heard of, and nothing is missed while the connection is down
// (the polling speeds up then, and a read follows every reconnection).
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "store/change_feed.h"
#include "store/postgres_connection.h"
#include "util/unique_fd.h"

namespace sprocket::store {
namespace {
namespace asio = boost::asio;

class NotifyingChangeFeed final : public ChangeFeed {
 public:
  NotifyingChangeFeed(asio::io_context& io, StoreExecutor& executor, std::string uri, ChangeFeedIntervals intervals)
      : io_(io), uri_(std::move(uri)), intervals_(intervals), poller_(io, executor, intervals.polling),
        wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~NotifyingChangeFeed() override { stop(); }

  void subscribe(Listener listener) override { poller_.subscribe(std::move(listener)); }

  void start() override {
    poller_.start();
    thread_ = std::thread([this] { listen_until_stopped(); });
  }

  void stop() override {
    *alive_ = false;
    if (thread_.joinable()) {
      stopping_ = true;
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
      thread_.join();
    }
    poller_.stop();
  }

 private:
  // From the listening thread: the rest happens on the event loop, if the feed is still there.
  void on_loop(std::function<void(PollingChangeFeed&)> work) {
    asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), work = std::move(work)] {
      auto live = alive.lock();
      if (live && *live) work(poller_);
    });
  }

  // Waits up to `delay` for stop(); true if it came.
  bool stopped_within(std::chrono::milliseconds delay) {
    pollfd fd{wake_.get(), POLLIN, 0};
    ::poll(&fd, 1, static_cast<int>(delay.count()));
    return stopping_;
  }

  void listen_until_stopped() {
    auto backoff = std::chrono::milliseconds(100);
    bool said_down = false;
    while (!stopping_) {
      std::string why;
      PgConnection conn = connect_postgres(uri_, "sprocket change feed", why);
      if (conn) {
        PGresult* r = PQexec(conn.get(), "LISTEN sprocket_changes");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) why = trimmed_libpq_message(PQresultErrorMessage(r));
        PQclear(r);
        if (!why.empty()) conn.reset();
      }
      if (!conn) {
        if (!said_down) {
          fmt::print(stderr, "sprocket: cannot listen for changes on PostgreSQL ({}); reading the store every {} ms until it can\n", why,
                     intervals_.polling.count());
          said_down = true;
        }
        if (stopped_within(backoff)) return;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        continue;
      }
      if (said_down) fmt::print(stderr, "sprocket: listening for changes on PostgreSQL again\n");
      said_down = false;
      backoff = std::chrono::milliseconds(100);
      // What changed while nobody listened is read now.
      on_loop([interval = intervals_.while_listening](PollingChangeFeed& p) {
        p.set_interval(interval);
        p.check_now();
      });
      if (!listen(conn.get())) return;  // stopped
      fmt::print(stderr, "sprocket: the PostgreSQL connection that listens for changes broke; reading the store every {} ms "
                         "until it is back\n", intervals_.polling.count());
      said_down = true;
      on_loop([interval = intervals_.polling](PollingChangeFeed& p) { p.set_interval(interval); });
    }
  }

  // Until the connection breaks (false: stop() came instead).
  bool listen(PGconn* conn) {
    for (;;) {
      pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) return true;
      if (stopping_) return false;
      if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) == 0) continue;
      if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) return true;
      bool notified = false;
      while (PGnotify* n = PQnotifies(conn)) {
        notified = true;
        PQfreemem(n);
      }
      if (notified) on_loop([](PollingChangeFeed& p) { p.check_now(); });
    }
  }

  asio::io_context& io_;
  std::string uri_;
  ChangeFeedIntervals intervals_;
  PollingChangeFeed poller_;
  util::UniqueFd wake_;
  std::atomic<bool> stopping_{false};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::thread thread_;
};

}  // namespace

std::unique_ptr<ChangeFeed> make_change_feed(asio::io_context& io, StoreExecutor& executor, const StoreLocation& where,
                                             ChangeFeedIntervals intervals) {
  if (where.engine == StoreLocation::Engine::Postgresql) {
    return std::make_unique<NotifyingChangeFeed>(io, executor, where.postgresql_uri, intervals);
  }
  return std::make_unique<PollingChangeFeed>(io, executor, intervals.polling);
}

}  // namespace sprocket::store
