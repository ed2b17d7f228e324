// The Redis budget against a real server: SPROCKET_TEST_REDIS (tests/support/redis_server.py
// sets it; `make unit` runs the suite inside it). Without it the tests are skipped, unless
// SPROCKET_REQUIRE_REDIS=1. The recovery test starts a private redis-server of its own, which
// it can stop and start again.
#include "accounts/redis_budget.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <fmt/format.h>
#include <thread>

#include "test_dir.h"

extern char** environ;

using namespace sprocket::accounts;
using namespace std::chrono_literals;
using Clock = AccountBudget::Clock;

namespace {

std::optional<RedisLocation> test_server() {
  const char* url = std::getenv("SPROCKET_TEST_REDIS");
  if (!url || !*url) return std::nullopt;
  auto where = parse_redis_location(url);
  if (!where) throw std::runtime_error(where.error());
  return *where;
}

#define REQUIRE_REDIS(where)                                                                                         \
  auto where##_found = test_server();                                                                                \
  if (!where##_found) {                                                                                              \
    const char* required = std::getenv("SPROCKET_REQUIRE_REDIS");                                                    \
    if (required && std::string(required) == "1") FAIL() << "SPROCKET_REQUIRE_REDIS=1 but SPROCKET_TEST_REDIS is not set"; \
    GTEST_SKIP() << "no Redis server: run through `make unit`, or tests/support/redis_server.py run -- COMMAND";      \
  }                                                                                                                  \
  RedisLocation where = *where##_found

// Keys of their own for each test (and each run): tests share the server.
std::string test_prefix() {
  return fmt::format("sprocket-test:{}:{}:", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

AccountLimits limits(double seconds, std::optional<std::int64_t> executions) {
  AccountLimits l;
  l.execution_seconds_per_minute = seconds;
  l.executions_per_minute = executions;
  return l;
}

RedisBudgetSettings node(const RedisLocation& where, const std::string& prefix, std::string id) {
  RedisBudgetSettings s;
  s.where = where;
  s.key_prefix = prefix;
  s.node_id = std::move(id);
  s.sync_interval = 20ms;
  s.max_backoff = 200ms;
  return s;
}

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds within = 10s) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);  // polling the condition, not waiting for it to be true
  }
  return condition();
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A redis-server of the test's own, without persistence, that it stops and starts at will.
class PrivateRedis {
 public:
  PrivateRedis(const std::filesystem::path& dir) : dir_(dir), port_(free_port()) {}
  ~PrivateRedis() { stop(); }
  RedisLocation where() const { return RedisLocation{"127.0.0.1", port_, 0, std::nullopt}; }
  void start() {
    std::string port = std::to_string(port_);
    std::string folder = dir_.string();
    std::vector<const char*> argv{"redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", folder.c_str(), "--loglevel", "warning", nullptr};
    std::string log = (dir_ / "server.log").string();
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
    int spawned = ::posix_spawnp(&pid_, "redis-server", &files, nullptr, const_cast<char**>(argv.data()), environ);
    posix_spawn_file_actions_destroy(&files);
    ASSERT_EQ(spawned, 0) << "cannot start redis-server (scripts/setup installs it)";
    ASSERT_TRUE(eventually([&] { return RedisConnection::open(where(), 200ms).has_value(); })) << "redis-server did not start";
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::filesystem::path dir_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace

TEST(RedisLocation, ParsesAndRefusesPasswords) {
  auto a = parse_redis_location("redis://10.0.0.5:6380/2");
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);
  EXPECT_EQ(a->display(), "redis://10.0.0.5:6380/2");
  auto b = parse_redis_location("redis://cache");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, 6379);
  EXPECT_EQ(b->db, 0);
  auto v6 = parse_redis_location("redis://[::1]:7000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  auto secret = parse_redis_location("redis://:hunter2@cache:6379");
  ASSERT_FALSE(secret);
  EXPECT_EQ(secret.error().find("hunter2"), std::string::npos);
  EXPECT_NE(secret.error().find("SPROCKET_REDIS_PASSWORD"), std::string::npos);
  EXPECT_FALSE(parse_redis_location("http://cache:6379"));
  EXPECT_FALSE(parse_redis_location("redis://cache:99999"));
  EXPECT_FALSE(parse_redis_location("redis://cache:6379/x"));
}

TEST(RedisBudget, TwoNodesShareOneBudget) {
  REQUIRE_REDIS(where);
  std::string prefix = test_prefix();
  RedisBudgetBackend a(node(where, prefix, "a")), b(node(where, prefix, "b"));
  auto on_a = a.budget_for(7, limits(1.0, 10));
  auto on_b = b.budget_for(7, limits(1.0, 10));
  ASSERT_TRUE(a.sync_now()) << a.health().reason;
  ASSERT_TRUE(b.sync_now()) << b.health().reason;
  auto now = Clock::now();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(on_a->admit(now).admitted);
  ASSERT_TRUE(a.sync_now());
  ASSERT_TRUE(b.sync_now());
  EXPECT_EQ(b.health().live_nodes, 2);
  EXPECT_FALSE(b.health().degraded);
  EXPECT_EQ(on_b->executions_remaining(now, 1s), 4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(on_b->admit(now).admitted) << i;
  // B counted the last four itself: it refuses before any sync.
  auto refused = on_b->admit(now);
  EXPECT_FALSE(refused.admitted);
  EXPECT_STREQ(refused.reason, "EXECUTIONS");
  EXPECT_GE(refused.retry_after.count(), 1);
  ASSERT_TRUE(b.sync_now());
  ASSERT_TRUE(a.sync_now());
  EXPECT_FALSE(on_a->check(now).admitted);
  EXPECT_EQ(on_a->executions_remaining(now, 1s), 0);

  // Execution time adds up the same way: another account, 1 s a minute.
  auto time_a = a.budget_for(8, limits(1.0, std::nullopt));
  auto time_b = b.budget_for(8, limits(1.0, std::nullopt));
  time_a->charge(now, 600ms);
  ASSERT_TRUE(a.sync_now());
  ASSERT_TRUE(b.sync_now());
  EXPECT_EQ(time_b->time_remaining_ms(now), 400);
  time_b->charge(now, 400ms);
  EXPECT_STREQ(time_b->check(now).reason, "EXECUTION_TIME");
  ASSERT_TRUE(b.sync_now());
  ASSERT_TRUE(a.sync_now());
  EXPECT_FALSE(time_a->check(now).admitted);
}

TEST(RedisBudget, TheScriptAppliesABatchOnce) {
  REQUIRE_REDIS(where);
  std::string prefix = test_prefix();
  auto connection = RedisConnection::open(where, 1s);
  ASSERT_TRUE(connection) << connection.error();
  std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<AccountDeltas> batch{{5, {{now - 1, 300, 2}, {now, 100, 1}}}};
  auto first = run_sync_script(*connection, prefix, "n", 1, now, 5s, batch);
  ASSERT_TRUE(first) << first.error();
  EXPECT_TRUE(first->applied);
  EXPECT_EQ(first->live_nodes, 1);
  EXPECT_EQ(first->totals.at(0).totals(now).executions, 3);
  EXPECT_EQ(first->totals.at(0).totals(now).execution_us, 400);
  // Its reply lost: the same batch again, with the same seq, adds nothing.
  auto again = run_sync_script(*connection, prefix, "n", 1, now, 5s, batch);
  ASSERT_TRUE(again) << again.error();
  EXPECT_FALSE(again->applied);
  EXPECT_EQ(again->totals.at(0).totals(now).executions, 3);
  auto next = run_sync_script(*connection, prefix, "n", 2, now, 5s, batch);
  ASSERT_TRUE(next);
  EXPECT_TRUE(next->applied);
  EXPECT_EQ(next->totals.at(0).totals(now).executions, 6);
  // Seconds that have left the window are not added.
  std::vector<AccountDeltas> old{{5, {{now - 60, 1000, 10}}}};
  auto stale = run_sync_script(*connection, prefix, "n", 3, now, 5s, old);
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->totals.at(0).totals(now).executions, 6);
}

TEST(RedisBudget, ConcurrentSyncsNeitherLoseNorDoubleCount) {
  REQUIRE_REDIS(where);
  std::string prefix = test_prefix();
  constexpr int kNodes = 4, kRounds = 150;
  std::vector<std::unique_ptr<RedisBudgetBackend>> nodes;
  std::vector<std::unique_ptr<AccountBudget>> budgets;
  for (int n = 0; n < kNodes; ++n) {
    nodes.push_back(std::make_unique<RedisBudgetBackend>(node(where, prefix, fmt::format("n{}", n))));
    budgets.push_back(nodes.back()->budget_for(9, limits(1e6, 1'000'000'000)));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < kNodes; ++n) {
    threads.emplace_back([&, n] {
      for (int r = 0; r < kRounds; ++r) {
        budgets[n]->count_execution(Clock::now());
        budgets[n]->charge(Clock::now(), 3us);
        if (!nodes[n]->sync_now()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int n = 0; n < kNodes; ++n) ASSERT_TRUE(nodes[n]->sync_now());
  for (int n = 0; n < kNodes; ++n) {
    EXPECT_EQ(budgets[n]->executions_remaining(Clock::now(), 1s), 1'000'000'000 - kNodes * kRounds) << "node " << n;
  }
  auto connection = RedisConnection::open(where, 1s);
  ASSERT_TRUE(connection);
  std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto totals = run_sync_script(*connection, prefix, "reader", 1, now, 5s, {{9, {}}});
  ASSERT_TRUE(totals);
  EXPECT_EQ(totals->totals.at(0).totals(now).executions, kNodes * kRounds);
  EXPECT_EQ(totals->totals.at(0).totals(now).execution_us, 3 * kNodes * kRounds);
}

TEST(RedisBudget, UnreachableIsDegradedToALocalShareAndRecovers) {
  REQUIRE_REDIS(shared);  // the suite's server is not used, but its absence means no redis-server
  sprocket::testing::TestDir dir("redis");
  PrivateRedis redis(dir.path());
  redis.start();
  std::string prefix = test_prefix();
  RedisBudgetBackend a(node(redis.where(), prefix, "a")), b(node(redis.where(), prefix, "b"));
  auto on_a = a.budget_for(3, limits(600, 10));
  auto on_b = b.budget_for(3, limits(600, 10));
  ASSERT_TRUE(a.sync_now());
  ASSERT_TRUE(b.sync_now());
  ASSERT_TRUE(a.sync_now());
  ASSERT_EQ(a.health().live_nodes, 2);
  auto now = Clock::now();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(on_a->admit(now).admitted);

  redis.stop();
  EXPECT_FALSE(a.sync_now());
  auto health = a.health();
  EXPECT_TRUE(health.degraded);
  EXPECT_NE(health.reason.find(redis.where().display()), std::string::npos) << health.reason;
  EXPECT_GE(health.sync_errors, 1u);
  // Alone, A keeps half the budget of 10 (two live nodes) for its own executions: 3 + 2.
  EXPECT_EQ(on_a->executions_remaining(now, 1s), 2);
  ASSERT_TRUE(on_a->admit(now).admitted);
  ASSERT_TRUE(on_a->admit(now).admitted);
  EXPECT_FALSE(on_a->admit(now).admitted);

  // B syncs by itself, with backoff: degraded while the server is down, global once it is back.
  b.start();
  ASSERT_TRUE(eventually([&] { return b.health().degraded && b.health().sync_errors > 0; }));
  redis.start();  // empty: no persistence, and its script cache is gone too
  ASSERT_TRUE(eventually([&] { return !b.health().degraded; })) << b.health().reason;
  ASSERT_TRUE(a.sync_now()) << a.health().reason;
  EXPECT_FALSE(a.health().degraded);
  // A's five executions reached Redis once: the batch that failed and what came after it.
  ASSERT_TRUE(a.sync_now());
  EXPECT_EQ(on_a->executions_remaining(now, 1s), 5);
  ASSERT_TRUE(eventually([&] { return on_b->executions_remaining(Clock::now(), 1s) == 5; }));
  b.stop();
}
