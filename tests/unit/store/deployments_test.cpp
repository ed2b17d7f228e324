// A deployment is stored inactive and becomes active only when told: the deploy service
// activates it once its files are in place and load, and can undo one that never was.
#include <gtest/gtest.h>

#include "store/store.h"
#include "test_dir.h"

namespace sprocket::store {
namespace {

class DeploymentsTest : public ::testing::Test {
 protected:
  sprocket::testing::TestDir dir_{"deployments"};
  std::unique_ptr<Store> store_ = open_sqlite_store(dir_.path() / "t.db");
};

TEST_F(DeploymentsTest, AStoredVersionIsNotActiveUntilActivated) {
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

TEST_F(DeploymentsTest, OnlyAVersionThatNeverBecameActiveCanBeRemoved) {
  auto v1 = store_->store_deployment(7, "shop", "", "a", 1000);
  ASSERT_TRUE(store_->activate_deployment(7, v1));
  auto v2 = store_->store_deployment(7, "shop", "", "b", 2000);
  EXPECT_FALSE(store_->remove_inactive_deployment(7, v1)) << "the active version stays";
  EXPECT_TRUE(store_->remove_inactive_deployment(7, v2));
  EXPECT_FALSE(store_->deployment_archive(7, v2));
  ASSERT_EQ(store_->deployments(7).size(), 1u);
  EXPECT_EQ(store_->active_sources().front().version, v1);
}

TEST_F(DeploymentsTest, ADeployCommittedUnderAClientsIdIsFoundWithItsAnswer) {
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

TEST_F(DeploymentsTest, AnAttemptThatNeverCommittedGivesWayToItsRetry) {
  auto first = store_->store_deployment(7, "shop", "", "archive", 1000, "id-2");  // its undo failed: the row stayed
  auto retry = store_->store_deployment(7, "shop", "", "archive", 2000, "id-2");
  EXPECT_EQ(first, retry) << "the leftover's version number is free again";
  ASSERT_EQ(store_->deployments(7).size(), 1u);
  EXPECT_EQ(store_->deployments(7).front().version, retry);
  ASSERT_TRUE(store_->activate_deployment(7, retry, "{}"));
  // Once committed, the id cannot be stored again: the retry is answered, never deployed twice.
  EXPECT_THROW(store_->store_deployment(7, "shop", "", "archive", 3000, "id-2"), StoreError);
}

}  // namespace
}  // namespace sprocket::store
