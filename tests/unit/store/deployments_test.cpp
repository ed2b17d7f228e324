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

}  // namespace
}  // namespace sprocket::store
