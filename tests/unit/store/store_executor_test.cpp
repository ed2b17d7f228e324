// The store thread keeps execution records it could not write because the database was
// locked, and writes them when it can: a real SQLITE_BUSY, from a second connection holding
// the write lock on the same file.
#include "store/store_executor.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "test_dir.h"

namespace sprocket::store {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Another connection to the same database, holding its write lock until released.
class WriteLock {
 public:
  explicit WriteLock(const fs::path& file) {
    EXPECT_EQ(sqlite3_open(file.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
  }
  ~WriteLock() {
    release();
    sqlite3_close(db_);
  }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;
  void release() {
    if (!held_) return;
    EXPECT_EQ(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    held_ = false;
  }

 private:
  sqlite3* db_ = nullptr;
  bool held_ = true;
};

// What the process writes on stderr while this lives goes to a file the test can read: the
// store thread reports there what it could not store.
class CapturedStderr {
 public:
  explicit CapturedStderr(fs::path file) : file_(std::move(file)) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~CapturedStderr() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;
  std::string text() const {
    std::ifstream in(file_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  fs::path file_;
  int saved_ = -1;
};

bool wait_until(const std::function<bool()>& condition, std::chrono::seconds deadline = 20s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);  // polling a condition, not waiting for time to pass
  }
  return true;
}

std::vector<ExecutionRecord> records(int count, const std::string& prefix) {
  std::vector<ExecutionRecord> out;
  for (int i = 0; i < count; ++i) {
    ExecutionRecord r;
    r.request_id = prefix + std::to_string(i);
    r.account_id = 1;
    r.function = "hello";
    r.method = "GET";
    r.path = "/_hcms/api/hello";
    r.http_status = 200;
    r.status = "SUCCESS";
    r.started_ms = 1000 + i;
    r.lines = {{1000 + i, "INFO", "line of " + r.request_id}};
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<ExecutionRecord> stored(const fs::path& file) {
  ExecutionQuery all;
  all.limit = 100000;
  return open_sqlite_store(file)->find_executions(all);
}

class StoreExecutorTest : public ::testing::Test {
 protected:
  sprocket::testing::TestDir dir_{"store-executor"};
  fs::path db_ = dir_.path() / "t.db";

  // Not a lock that goes away: every page insert fails (SQLITE_CONSTRAINT) until the trigger is
  // dropped, and retrying would hold the records forever.
  void refuse_every_page(bool refuse = true) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    const char* sql = refuse ? "CREATE TRIGGER refuse BEFORE INSERT ON execution_pages BEGIN SELECT RAISE(ABORT, 'refused'); END"
                             : "DROP TRIGGER refuse";
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
};

TEST_F(StoreExecutorTest, RecordsRefusedByALockedDatabaseArriveOnceItIsReleased) {
  StoreExecutor executor(open_sqlite_store(db_, 20ms));
  CapturedStderr captured(dir_.path() / "stderr.txt");
  WriteLock lock(db_);
  executor.append_executions(records(50, "first-"));
  ASSERT_TRUE(wait_until([&] { return captured.text().find("could not store 50 execution records") != std::string::npos; }))
      << captured.text();
  executor.append_executions(records(30, "while-locked-"));  // more arrive during the outage
  lock.release();
  executor.flush();

  auto found = stored(db_);
  ASSERT_EQ(found.size(), 80u) << captured.text();
  EXPECT_EQ(found.front().request_id, "first-0");  // in the order they were given
  EXPECT_EQ(found.back().request_id, "while-locked-29");
  for (std::size_t i = 1; i < found.size(); ++i) EXPECT_GT(found[i].id, found[i - 1].id);
}

TEST_F(StoreExecutorTest, PastTheBoundTheOldestHeldRecordsAreDroppedCountedAndSaid) {
  StoreExecutorSettings settings;
  settings.max_held_bytes = 8 * 1024;  // a few dozen records
  StoreExecutor executor(open_sqlite_store(db_, 20ms), settings);
  CapturedStderr captured(dir_.path() / "stderr.txt");
  WriteLock lock(db_);
  const int total = 400;
  for (int batch = 0; batch < 4; ++batch) executor.append_executions(records(total / 4, "b" + std::to_string(batch) + "-"));
  ASSERT_TRUE(wait_until([&] { return executor.dropped_records() > 0; })) << captured.text();
  lock.release();
  executor.flush();

  auto found = stored(db_);
  EXPECT_GT(found.size(), 0u);
  EXPECT_EQ(found.size() + executor.dropped_records(), static_cast<std::size_t>(total)) << captured.text();
  EXPECT_EQ(found.back().request_id, "b3-99");  // the newest are kept
  EXPECT_NE(captured.text().find("dropping execution records: "), std::string::npos) << captured.text();
  EXPECT_NE(captured.text().find("the oldest go first"), std::string::npos) << captured.text();
  EXPECT_NE(captured.text().find(fmt::format("execution records are stored again; {} were dropped", executor.dropped_records())),
            std::string::npos)
      << captured.text();
}

TEST_F(StoreExecutorTest, RecordsTheStoreRefusesForGoodAreDroppedAndCounted) {
  StoreExecutor executor(open_sqlite_store(db_, 20ms));
  CapturedStderr captured(dir_.path() / "stderr.txt");
  refuse_every_page();
  executor.append_executions(records(5, "r-"));
  EXPECT_TRUE(executor.flush());
  EXPECT_EQ(executor.dropped_records(), 5u);
  EXPECT_NE(captured.text().find("dropping execution records: 5 could not be stored (refused for good"), std::string::npos)
      << captured.text();
}

TEST_F(StoreExecutorTest, BatchesRefusedForGoodAreSaidOnceAndTheRecoveryWithTheirCount) {
  StoreExecutor executor(open_sqlite_store(db_, 20ms));
  CapturedStderr captured(dir_.path() / "stderr.txt");
  refuse_every_page();
  for (int batch = 0; batch < 20; ++batch) {
    executor.append_executions(records(3, "r" + std::to_string(batch) + "-"));
    EXPECT_TRUE(executor.flush());  // one batch each: twenty refusals
  }
  EXPECT_EQ(executor.dropped_records(), 60u);
  refuse_every_page(false);
  executor.append_executions(records(2, "ok-"));
  EXPECT_TRUE(executor.flush());
  auto text = captured.text();
  std::size_t lines = 0;
  for (auto at = text.find("dropping execution records"); at != std::string::npos; at = text.find("dropping execution records", at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << text;  // not one line per batch
  EXPECT_NE(text.find("execution records are stored again; 60 were dropped"), std::string::npos) << text;
  EXPECT_EQ(stored(db_).size(), 2u);
}

TEST_F(StoreExecutorTest, AStopWhileTheStoreRefusesRecordsEndsAndSaysWhatWasDropped) {
  CapturedStderr captured(dir_.path() / "stderr.txt");
  std::optional<StoreExecutor> executor;
  executor.emplace(open_sqlite_store(db_, 20ms));
  WriteLock lock(db_);
  executor->append_executions(records(7, "s-"));
  ASSERT_TRUE(wait_until([&] { return captured.text().find("could not store 7 execution records") != std::string::npos; }));
  executor.reset();  // stops while the lock is still held: one last attempt, then the records go
  EXPECT_NE(captured.text().find("7 execution records could not be stored and are dropped (stopping)"), std::string::npos)
      << captured.text();
}

}  // namespace
}  // namespace sprocket::store
