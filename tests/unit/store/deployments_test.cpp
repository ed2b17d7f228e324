// A deployment is stored inactive and becomes active only when told: the deploy service
// activates it once its files are in place and load, and can undo one that never was.
#include <gtest/gtest.h>

#include <climits>
#include <sqlite3.h>

#include "store/store.h"
#include "store_engines.h"
#include "test_dir.h"

namespace sprocket::store {
namespace {

class DeploymentsTest : public sprocket::store::testing::OpenStoreTest {};
SPROCKET_BOTH_STORE_ENGINES(DeploymentsTest);

// SQLite's own history: older schemas it upgrades.
class SqliteDeploymentsTest : public ::testing::Test {
 protected:
  sprocket::testing::TestDir dir_{"deployments"};
  std::unique_ptr<Store> store_ = open_sqlite_store(dir_.path() / "t.db");
};

TEST_P(DeploymentsTest, AStoredVersionIsNotActiveUntilActivated) {
  auto v1 = store_->store_deployment(7, "shop", "first", "archive-1", 1000);
  EXPECT_EQ(v1, 1);
  EXPECT_TRUE(store_->active_sources().empty());
  EXPECT_FALSE(store_->deployments(7).front().active);
  ASSERT_TRUE(store_->activate_deployment(7, v1));
  ASSERT_EQ(store_->active_sources().size(), 1u);
  EXPECT_EQ(store_->active_sources().front().version, v1);

  auto v2 = store_->store_deployment(7, "shop", "second", "archive-2", 2000);
  EXPECT_EQ(v2, 2);
  EXPECT_EQ(store_->active_sources().front().version, v1) << "storing v2 leaves v1 active";
  EXPECT_FALSE(store_->activate_deployment(7, 99));
}

TEST_P(DeploymentsTest, OnlyAVersionThatNeverBecameActiveCanBeRemoved) {
  auto v1 = store_->store_deployment(7, "shop", "", "a", 1000);
  ASSERT_TRUE(store_->activate_deployment(7, v1));
  auto v2 = store_->store_deployment(7, "shop", "", "b", 2000);
  EXPECT_FALSE(store_->remove_inactive_deployment(7, v1)) << "the active version stays";
  EXPECT_TRUE(store_->remove_inactive_deployment(7, v2));
  EXPECT_FALSE(store_->deployment_archive(7, v2));
  ASSERT_EQ(store_->deployments(7).size(), 1u);
  EXPECT_EQ(store_->active_sources().front().version, v1);
}

TEST_P(DeploymentsTest, ADeployCommittedUnderAClientsIdIsFoundWithItsAnswer) {
  auto v1 = store_->store_deployment(7, "shop", "", "archive-1", 1000, "id-1");
  EXPECT_FALSE(store_->committed_deploy(7, "id-1")) << "stored is not committed";
  ASSERT_TRUE(store_->activate_deployment(7, v1, R"({"version":1})"));
  auto committed = store_->committed_deploy(7, "id-1");
  ASSERT_TRUE(committed);
  EXPECT_EQ(committed->version, v1);
  EXPECT_EQ(committed->name, "shop");
  EXPECT_EQ(committed->archive, "archive-1");
  EXPECT_EQ(committed->outcome, R"({"version":1})");
  EXPECT_FALSE(store_->committed_deploy(8, "id-1")) << "ids are per account";
  EXPECT_FALSE(store_->committed_deploy(7, "")) << "no id, no retry";
  // A rollback to it later keeps its answer.
  auto v2 = store_->store_deployment(7, "shop", "", "archive-2", 2000);
  ASSERT_TRUE(store_->activate_deployment(7, v2));
  ASSERT_TRUE(store_->activate_deployment(7, v1));
  EXPECT_EQ(store_->committed_deploy(7, "id-1")->outcome, R"({"version":1})");
}

TEST_P(DeploymentsTest, AnAttemptThatNeverCommittedGivesWayToItsRetry) {
  auto first = store_->store_deployment(7, "shop", "", "archive", 1000, "id-2");  // its undo failed: the row stayed
  auto retry = store_->store_deployment(7, "shop", "", "archive", 2000, "id-2");
  EXPECT_EQ(first, retry) << "the leftover's version number is free again";
  ASSERT_EQ(store_->deployments(7).size(), 1u);
  EXPECT_EQ(store_->deployments(7).front().version, retry);
  ASSERT_TRUE(store_->activate_deployment(7, retry, "{}"));
  // Once committed, the id cannot be stored again: the retry is answered, never deployed twice.
  EXPECT_THROW(store_->store_deployment(7, "shop", "", "archive", 3000, "id-2"), StoreError);
}

TEST_P(DeploymentsTest, AVersionStoredButNeverCommittedIsRemovedAndItsNumberIsFree) {
  auto v1 = store_->store_deployment(7, "shop", "one", "a", 1000, "id-1");
  ASSERT_TRUE(store_->activate_deployment(7, v1, "{}"));
  auto v2 = store_->store_deployment(7, "shop", "two", "b", 2000);
  ASSERT_TRUE(store_->activate_deployment(7, v2));
  ASSERT_TRUE(store_->activate_deployment(7, v1)) << "rolled back: v2 is inactive, yet it was deployed";
  auto v3 = store_->store_deployment(7, "shop", "three", "c", 3000, "id-3");  // then kill -9, before its activation
  auto other = store_->store_deployment(8, "blog", "", "d", 3000);            // and another account's, without an id

  EXPECT_TRUE(store_->remove_uncommitted_deployments(3000).empty()) << "as recent as a deploy in progress on another node";
  auto removed = store_->remove_uncommitted_deployments(INT64_MAX);
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[0].account_id, 7);
  EXPECT_EQ(removed[0].version, v3);
  EXPECT_EQ(removed[0].name, "shop");
  EXPECT_EQ(removed[1].account_id, 8);
  EXPECT_EQ(removed[1].version, other);
  ASSERT_EQ(store_->deployments(7).size(), 2u) << "committed versions stay, active or not";
  EXPECT_EQ(store_->active_sources().front().version, v1);
  EXPECT_TRUE(store_->remove_uncommitted_deployments(INT64_MAX).empty());
  EXPECT_EQ(store_->store_deployment(7, "shop", "", "e", 4000), v3) << "the next deploy gets the number nobody was told about";
}

TEST_F(SqliteDeploymentsTest, TheUpgradeMarksAsUncommittedOnlyWhatADeployIdShowsWasNeverAnswered) {
  auto legacy = store_->store_deployment(7, "shop", "", "a", 1000);  // from before deploy ids: committed
  auto answered = store_->store_deployment(7, "shop", "", "b", 2000, "id-b");
  ASSERT_TRUE(store_->activate_deployment(7, answered, "{}"));
  auto active_legacy = store_->store_deployment(7, "blog", "", "c", 3000);
  ASSERT_TRUE(store_->activate_deployment(7, active_legacy));
  auto cut_off = store_->store_deployment(7, "shop", "", "d", 4000, "id-d");
  store_.reset();
  // Back to schema version 6, as an older sprocket left it: no committed column (nor the leases of version 8).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / "t.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE deployments DROP COLUMN committed; ALTER TABLE action_executions DROP COLUMN lease_owner; "
                         "ALTER TABLE action_executions DROP COLUMN lease_expires_ms; DELETE FROM schema_version WHERE version > 6",
                         nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  store_ = open_sqlite_store(dir_.path() / "t.db");
  auto removed = store_->remove_uncommitted_deployments(INT64_MAX);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].version, cut_off);
  std::vector<std::int64_t> kept;
  for (const auto& d : store_->deployments(7)) kept.push_back(d.version);
  EXPECT_EQ(kept, (std::vector<std::int64_t>{active_legacy, answered, legacy}));
}

}  // namespace
}  // namespace sprocket::store
