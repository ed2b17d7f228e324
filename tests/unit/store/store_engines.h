#pragma once
// The Store suites run against both engines: SQLite in the test's folder, PostgreSQL in a
// database of its own on the private server `make unit` starts (tests/support/postgres_server.py,
// which names it in SPROCKET_TEST_POSTGRES). Without that variable the PostgreSQL cases skip,
// unless SPROCKET_REQUIRE_POSTGRES=1 (set by `make unit`) makes them fail.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/store.h"
#include "store/store_location.h"
#include "test_dir.h"

namespace sprocket::store::testing {

enum class Engine { Sqlite, Postgres };

std::string engine_name(const ::testing::TestParamInfo<Engine>& info);
#define SPROCKET_BOTH_STORE_ENGINES(Suite)                                                                                  \
  INSTANTIATE_TEST_SUITE_P(Engines, Suite, ::testing::Values(::sprocket::store::testing::Engine::Sqlite,                   \
                                                             ::sprocket::store::testing::Engine::Postgres),                \
                           ::sprocket::store::testing::engine_name)

class StoreEngineTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override;     // makes the test's database; skips when there is no PostgreSQL server
  void TearDown() override;  // drops it
  // Opens the test's store again (a restart): the same file or database.
  std::unique_ptr<Store> open_store();
  // Where open_store() opens it, as `--store` names it.
  StoreLocation location() const;
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  sprocket::testing::TestDir dir_{"store"};
  std::string postgres_admin_uri_;
  std::string database_;
};

// For suites that work on one store: `store_`, opened before each test.
class OpenStoreTest : public StoreEngineTest {
 protected:
  void SetUp() override {
    StoreEngineTest::SetUp();
    if (!IsSkipped() && !HasFatalFailure()) store_ = open_store();
  }
  void TearDown() override {
    store_.reset();  // closed before the database is dropped
    StoreEngineTest::TearDown();
  }
  std::unique_ptr<Store> store_;
};

}  // namespace sprocket::store::testing
