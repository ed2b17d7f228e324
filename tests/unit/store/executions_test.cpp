#include <gtest/gtest.h>

#include "test_dir.h"
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "store/store.h"
#include "store_engines.h"
#include "util/request_id.h"

using namespace sprocket::store;
namespace fs = std::filesystem;

namespace {

ExecutionRecord record(std::string request_id, std::int64_t account, std::string function, std::int64_t started_ms) {
  ExecutionRecord r;
  r.request_id = std::move(request_id);
  r.account_id = account;
  r.function = function;
  r.method = "GET";
  r.path = "/_hcms/api/" + function;
  r.http_status = 200;
  r.status = "SUCCESS";
  r.execution_ms = 1.5;
  r.started_ms = started_ms;
  r.lines = {{started_ms, "INFO", "hello \"quoted\"\nand a newline"}};
  return r;
}

// What every engine must answer alike.
class ExecutionsTest : public sprocket::store::testing::StoreEngineTest {};
SPROCKET_BOTH_STORE_ENGINES(ExecutionsTest);

// SQLite's own history: older schemas it upgrades.
class SqliteExecutionsTest : public ::testing::Test {
 protected:
  sprocket::testing::TestDir test_dir_{"executions"};
  fs::path dir_ = test_dir_.path();
};

TEST_P(ExecutionsTest, PagesAnswerEveryQuery) {
  auto store = open_store();
  sprocket::util::RequestIdGenerator ids;
  std::vector<std::string> request_ids;
  // Three batches (pages): a, b, a / b, b / a
  std::vector<std::vector<ExecutionRecord>> batches = {
      {record(ids.next(), 1, "a", 1000), record(ids.next(), 1, "b", 1001), record(ids.next(), 2, "a", 1002)},
      {record(ids.next(), 1, "b", 2000), record(ids.next(), 1, "b", 2001)},
      {record(ids.next(), 1, "a", 3000)}};
  std::int64_t last_id = 0;
  for (auto& batch : batches) {
    store->append_executions(batch);
    for (const auto& r : batch) {
      EXPECT_GT(r.id, last_id) << "ids increase";
      last_id = r.id;
      request_ids.push_back(r.request_id);
    }
  }
  ExecutionQuery by_function;
  by_function.account_id = 1;
  by_function.function = "a";
  auto a = store->find_executions(by_function);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].started_ms, 1000);  // oldest first
  EXPECT_EQ(a[1].started_ms, 3000);
  ASSERT_EQ(a[0].lines.size(), 1u);
  EXPECT_EQ(a[0].lines[0].text, "hello \"quoted\"\nand a newline");
  EXPECT_EQ(a[0].path, "/_hcms/api/a");
  EXPECT_DOUBLE_EQ(a[0].execution_ms, 1.5);

  ExecutionQuery by_path;
  by_path.function = "/_hcms/api/b";
  EXPECT_EQ(store->find_executions(by_path).size(), 3u);

  ExecutionQuery newest;
  newest.limit = 2;
  auto two = store->find_executions(newest);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].started_ms, 2001);
  EXPECT_EQ(two[1].started_ms, 3000);

  ExecutionQuery by_request;
  by_request.request_id = request_ids[3];
  auto one = store->find_executions(by_request);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].started_ms, 2000);
  by_request.request_id = "01a2ffff-ffff-7fff-bfff-ffffffffffff";
  EXPECT_TRUE(store->find_executions(by_request).empty());

  ExecutionQuery follow;
  follow.after_id = two[0].id - 1;  // the 2000 record's id
  auto after = store->find_executions(follow);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].started_ms, 2001);

  ExecutionQuery since;
  since.since_ms = 2001;
  EXPECT_EQ(store->find_executions(since).size(), 2u);

  ExecutionQuery account_two;
  account_two.account_id = 2;
  EXPECT_EQ(store->find_executions(account_two).size(), 1u);

  // Pruning removes whole pages whose executions are all older than the cutoff.
  EXPECT_EQ(store->prune_executions(2500), 5u);
  EXPECT_EQ(store->find_executions(ExecutionQuery{}).size(), 1u);
  by_request.request_id = request_ids[0];
  EXPECT_TRUE(store->find_executions(by_request).empty());
  // Ids keep increasing after a restart and a prune.
  store = open_store();
  std::vector<ExecutionRecord> more = {record(ids.next(), 1, "a", 4000)};
  store->append_executions(more);
  EXPECT_GT(more[0].id, last_id);
}

TEST_F(SqliteExecutionsTest, RowsOfTheOldTableMoveIntoPages) {
  // A database at schema version 4, with execution rows in the old table.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "old.db").c_str(), &db), SQLITE_OK);
  const char* old_schema = R"sql(
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version (version) VALUES (1), (2), (3), (4);
    CREATE TABLE executions (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, account_id INTEGER NOT NULL,
      function TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, http_status INTEGER NOT NULL, status TEXT NOT NULL,
      execution_ms REAL NOT NULL, queue_ms REAL NOT NULL, memory_mb INTEGER NOT NULL, cold_start INTEGER NOT NULL,
      started_ms INTEGER NOT NULL, error TEXT NOT NULL, lines TEXT NOT NULL);
    INSERT INTO executions VALUES (7, 'r-seven', 5, 'hello', 'GET', '/_hcms/api/hello', 200, 'SUCCESS', 1, 0, 40, 0, 1000, '', '[[1000,"INFO","hi"]]');
    CREATE TABLE deployments (account_id INTEGER NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, message TEXT NOT NULL,
      created_ms INTEGER NOT NULL, archive BLOB NOT NULL, PRIMARY KEY (account_id, version));
    INSERT INTO executions VALUES (9, 'r-nine', 5, 'other', 'POST', '/_hcms/api/other', 500, 'ERROR', 2, 0, 41, 1, 2000, 'boom', '[]');
    -- Version 3's queue, which later versions change too (its columns do not matter here).
    CREATE TABLE action_executions (id INTEGER PRIMARY KEY AUTOINCREMENT);
  )sql";
  ASSERT_EQ(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  auto store = open_sqlite_store(dir_ / "old.db");
  auto all = store->find_executions(ExecutionQuery{});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, 7);
  EXPECT_EQ(all[0].lines.at(0).text, "hi");
  EXPECT_EQ(all[1].id, 9);
  EXPECT_EQ(all[1].error, "boom");
  EXPECT_TRUE(all[1].cold_start);
  ExecutionQuery by_request;
  by_request.request_id = "r-nine";
  ASSERT_EQ(store->find_executions(by_request).size(), 1u);
  std::vector<ExecutionRecord> next = {record("r-ten", 5, "hello", 3000)};
  store->append_executions(next);
  EXPECT_EQ(next[0].id, 10);
}

}  // namespace

namespace {

TEST(RequestIds, TheFirst64BitsAreUniqueAndIncreasing) {
  sprocket::util::RequestIdGenerator ids;
  std::string previous;
  for (int i = 0; i < 20000; ++i) {  // far more than 4,096 within one millisecond
    std::string id = ids.next();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '7');
    std::string prefix = id.substr(0, 18);  // 16 hex digits and two dashes
    EXPECT_GT(prefix, previous.substr(0, 18)) << id << " after " << previous;
    previous = id;
  }
}

}  // namespace
