// The change feed tells the event loop about commits made by another connection (another
// `sprocket secrets` process), once per change seen, and never about the node's own writes.
#include "store/change_feed.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>

#include "store/store_executor.h"
#include "store_engines.h"
#include "test_dir.h"

namespace sprocket::store {
namespace {
using namespace std::chrono_literals;

constexpr auto kInterval = 10ms;

SecretRecord secret(const std::string& name) {
  SecretRecord s;
  s.account_id = 1;
  s.name = name;
  s.nonce = "n";
  s.ciphertext = "c";
  return s;
}

class ChangeFeedTest : public ::testing::Test {
 protected:
  ChangeFeedTest()
      : executor_(open_sqlite_store(dir_.path() / "sprocket.db")), feed_(io_, executor_, kInterval) {
    feed_.subscribe([this] { ++changes_; });
  }
  // Runs the event loop until `done` holds or 5 s pass.
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_for(kInterval);
    return done();
  }
  // Runs the event loop for this many polling intervals, whatever happens.
  void run_intervals(int n) {
    for (int i = 0; i < n; ++i) io_.run_for(kInterval);
  }
  // A commit by another connection to the same file, as `sprocket secrets add` makes.
  void commit_elsewhere(const std::string& name) { open_sqlite_store(dir_.path() / "sprocket.db")->put_secret(secret(name)); }

  sprocket::testing::TestDir dir_{"change-feed"};
  boost::asio::io_context io_;
  StoreExecutor executor_;
  PollingChangeFeed feed_;
  int changes_ = 0;
};

TEST_F(ChangeFeedTest, AnotherConnectionsCommitReachesTheListenerOnce) {
  feed_.start();
  commit_elsewhere("A");
  ASSERT_TRUE(run_until([&] { return changes_ >= 1; }));
  run_intervals(20);  // many more reads of the same counter: not another change
  EXPECT_EQ(changes_, 1);

  commit_elsewhere("B");
  ASSERT_TRUE(run_until([&] { return changes_ >= 2; }));
  feed_.stop();
}

TEST_F(ChangeFeedTest, CommitsMadeBeforeStartAreTheBaselineNotAChange) {
  commit_elsewhere("A");  // what the services load at start-up already holds this
  feed_.start();
  run_intervals(20);
  EXPECT_EQ(changes_, 0);
  feed_.stop();
}

TEST_F(ChangeFeedTest, TheNodesOwnWritesAreNotReported) {
  feed_.start();
  std::promise<void> written;
  executor_.post([&](Store& s) {
    s.put_secret(secret("OWN"));
    written.set_value();
  });
  written.get_future().wait();
  run_intervals(20);
  EXPECT_EQ(changes_, 0);
  feed_.stop();
}

TEST_F(ChangeFeedTest, AfterStopNoListenerIsCalled) {
  feed_.start();
  feed_.stop();
  commit_elsewhere("A");
  run_intervals(20);
  EXPECT_EQ(changes_, 0);
}

// make_change_feed's feed, on either engine: on PostgreSQL with polling slowed to an hour, only
// LISTEN/NOTIFY can bring the change in time.
class FeedOfAStoreTest : public testing::StoreEngineTest {
 protected:
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_for(kInterval);
    return done();
  }
  boost::asio::io_context io_;
};
SPROCKET_BOTH_STORE_ENGINES(FeedOfAStoreTest);

TEST_P(FeedOfAStoreTest, AnotherNodesChangeArrivesWithoutWaitingForThePoll) {
  const bool listening = GetParam() == testing::Engine::Postgres;
  ChangeFeedIntervals intervals;
  intervals.while_listening = 1h;
  if (listening) intervals.polling = 1h;
  StoreExecutor executor(open_store());
  auto feed = make_change_feed(io_, executor, location(), intervals);
  int changes = 0;
  feed->subscribe([&] { ++changes; });
  feed->start();
  // Another node's first write may come before the feed has its connection: read on reconnection.
  open_store()->put_secret(secret("A"));
  ASSERT_TRUE(run_until([&] { return changes >= 1; }));
  open_store()->add_admin_token("hash", 1, 1);
  ASSERT_TRUE(run_until([&] { return changes >= 2; }));
  open_store()->put_secret(secret("B"));
  ASSERT_TRUE(run_until([&] { return changes >= 3; }));
  feed->stop();
}

}  // namespace
}  // namespace sprocket::store
