// What both engines keep exactly, and how they fail: binary values, text that is not UTF-8,
// the change counter, schema migration by several nodes at once, a server that is not there.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "store/store.h"
#include "store_engines.h"

namespace sprocket::store {
namespace {

class StoreContractTest : public testing::StoreEngineTest {};
SPROCKET_BOTH_STORE_ENGINES(StoreContractTest);

TEST_P(StoreContractTest, SealedSecretsComeBackByteForByte) {
  auto store = open_store();
  const std::string nonce("\0\x01\xff\x80n", 5);
  const std::string ciphertext("\0\0\xfe\x7f\x00x", 6);
  store->put_secret({42, "API_KEY", nonce, ciphertext, 1000, 1000});
  store->put_secret({42, "API_KEY", ciphertext, nonce, 0, 2000});  // an update keeps created_ms
  auto secrets = store->secrets();
  ASSERT_EQ(secrets.size(), 1u);
  EXPECT_EQ(secrets[0].nonce, ciphertext);
  EXPECT_EQ(secrets[0].ciphertext, nonce);
  EXPECT_EQ(secrets[0].created_ms, 1000);
  EXPECT_EQ(secrets[0].updated_ms, 2000);
  EXPECT_TRUE(store->delete_secret(42, "API_KEY"));
  EXPECT_FALSE(store->delete_secret(42, "API_KEY"));
}

TEST_P(StoreContractTest, ArchivesKeepEveryByte) {
  auto store = open_store();
  std::string archive;
  for (int i = 0; i < 70000; ++i) archive += static_cast<char>(i * 7);
  auto v = store->store_deployment(1, "shop", "", archive, 1);
  EXPECT_EQ(store->deployment_archive(1, v), archive);
}

TEST_P(StoreContractTest, TextThatIsNotUtf8IsKeptAsReplacementCharacters) {
  auto store = open_store();
  ActionExecutionRecord e;
  e.account_id = 1;
  e.action = "a";
  e.callback_id = "cb";
  e.event_json = "{}";
  store->enqueue_action(e);
  auto claimed = store->claim_due_actions(0, 1, ActionLease{"node", 1000}).at(0);
  claimed.state = "failed";
  const std::string original("bad \xff byte and a \0 NUL", sizeof("bad \xff byte and a \0 NUL") - 1);
  ActionAttemptRecord attempt{1, 0, 5, "FAILED", original, 1, 1, 0, {}};
  ASSERT_TRUE(store->finish_action_attempt(claimed, attempt));
  auto read = store->action_execution(e.id);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->attempt_list.size(), 1u);
  const auto& error = read->attempt_list[0].error;
  if (GetParam() == testing::Engine::Postgres) {
    EXPECT_EQ(error, "bad \xEF\xBF\xBD byte and a \xEF\xBF\xBD NUL");
  } else {
    EXPECT_EQ(error, original);  // SQLite keeps the bytes as they came
  }
}

TEST_P(StoreContractTest, AnotherConnectionsSecretChangesTheCounter) {
  auto node = open_store();
  auto before = node->external_change_counter();
  open_store()->put_secret({1, "S", "n", "c", 1, 1});  // `sprocket secrets add`, or another node
  EXPECT_NE(node->external_change_counter(), before);
  auto after_secret = node->external_change_counter();
  open_store()->add_admin_token("hash", 1, 1);
  EXPECT_NE(node->external_change_counter(), after_secret);
}

TEST_P(StoreContractTest, NodesStartingTogetherMigrateOnce) {
  std::vector<std::unique_ptr<Store>> stores(4);
  std::vector<std::thread> nodes;
  std::vector<std::string> errors(stores.size());
  for (std::size_t i = 0; i < stores.size(); ++i) {
    nodes.emplace_back([&, i] {
      try {
        stores[i] = open_store();
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : nodes) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  for (auto& s : stores) {
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->secrets().empty());
  }
}

TEST(PostgresStore, AServerThatIsNotThereIsATransientErrorNamingIt) {
  try {
    open_postgres_store("postgresql://sprocket@127.0.0.1:1/nothing?connect_timeout=2");
    FAIL() << "opened a store on a closed port";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.transient);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sprocket::store
