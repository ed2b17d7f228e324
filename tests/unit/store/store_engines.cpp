#include "store_engines.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <fmt/format.h>

namespace sprocket::store::testing {
namespace {

// One statement on the server's admin database, outside any transaction (CREATE DATABASE).
void run_admin_statement(const std::string& uri, const std::string& sql) {
  PGconn* conn = PQconnectdb(uri.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = PQerrorMessage(conn);
    PQfinish(conn);
    FAIL() << "cannot connect to the test PostgreSQL at " << uri << ": " << why;
  }
  PGresult* r = PQexec(conn, sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string why = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(conn);
  ASSERT_TRUE(ok) << sql << ": " << why;
}

// The URI of `database` on the server of `admin_uri` (…/postgres).
std::string database_uri(const std::string& admin_uri, const std::string& database) {
  return admin_uri.substr(0, admin_uri.rfind('/') + 1) + database;
}

}  // namespace

std::string engine_name(const ::testing::TestParamInfo<Engine>& info) { return info.param == Engine::Sqlite ? "Sqlite" : "Postgres"; }

void StoreEngineTest::SetUp() {
  if (GetParam() == Engine::Sqlite) return;
  const char* uri = std::getenv("SPROCKET_TEST_POSTGRES");
  if (!uri || !*uri) {
    const char* required = std::getenv("SPROCKET_REQUIRE_POSTGRES");
    if (required && std::string(required) == "1") FAIL() << "SPROCKET_REQUIRE_POSTGRES=1 but SPROCKET_TEST_POSTGRES is not set";
    GTEST_SKIP() << "no PostgreSQL server: run through `make unit`, or tests/support/postgres_server.py run -- COMMAND";
  }
  postgres_admin_uri_ = uri;
  static int counter = 0;
  database_ = fmt::format("store_test_{}_{}", ::getpid(), ++counter);
  run_admin_statement(postgres_admin_uri_, fmt::format("CREATE DATABASE {}", database_));
}

void StoreEngineTest::TearDown() {
  if (database_.empty()) return;
  run_admin_statement(postgres_admin_uri_, fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", database_));
}

StoreLocation StoreEngineTest::location() const {
  StoreLocation where;
  if (GetParam() == Engine::Sqlite) {
    where.sqlite_file = dir_.path() / "t.db";
  } else {
    where.engine = StoreLocation::Engine::Postgresql;
    where.postgresql_uri = database_uri(postgres_admin_uri_, database_);
  }
  return where;
}

std::unique_ptr<Store> StoreEngineTest::open_store() { return store::open_store(location()); }

}  // namespace sprocket::store::testing
