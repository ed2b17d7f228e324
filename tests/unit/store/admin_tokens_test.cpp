// Scoped admin tokens are kept as hashes: listed with their account and age (for `tokens list`),
// and removed one by one (`tokens revoke`), the others untouched.
#include <gtest/gtest.h>

#include "store/store.h"
#include "store_engines.h"

namespace sprocket::store {
namespace {

class AdminTokensTest : public sprocket::store::testing::OpenStoreTest {};
SPROCKET_BOTH_STORE_ENGINES(AdminTokensTest);

TEST_P(AdminTokensTest, ListsOldestFirstWithAccountAndCreation) {
  store_->add_admin_token("hash-b", 8, 2000);
  store_->add_admin_token("hash-a", 7, 1000);
  auto tokens = store_->admin_tokens();
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0].token_hash, "hash-a");
  EXPECT_EQ(tokens[0].account_id, 7);
  EXPECT_EQ(tokens[0].created_ms, 1000);
  EXPECT_EQ(tokens[1].token_hash, "hash-b");
}

TEST_P(AdminTokensTest, RemovesOnlyTheOneNamed) {
  store_->add_admin_token("hash-a", 7, 1000);
  store_->add_admin_token("hash-b", 7, 2000);
  EXPECT_TRUE(store_->remove_admin_token("hash-a"));
  EXPECT_FALSE(store_->remove_admin_token("hash-a")) << "a second revoke finds nothing";
  auto tokens = store_->admin_tokens();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].token_hash, "hash-b");
}

}  // namespace
}  // namespace sprocket::store
