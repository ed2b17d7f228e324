#include "store/sole_node_lock.h"

#include <libpq-fe.h>

#include <fmt/format.h>

namespace sprocket::store {
namespace {

constexpr const char* kTakeLock = "SELECT pg_try_advisory_lock(6004047262302914892)";  // sprocket's node key

class NoLock final : public SoleNodeLock {};

class PostgresLock final : public SoleNodeLock {
 public:
  explicit PostgresLock(PGconn* conn) : conn_(conn) {}
  ~PostgresLock() override { PQfinish(conn_); }

 private:
  PGconn* conn_;
};

}  // namespace

Expected<std::unique_ptr<SoleNodeLock>, std::string> SoleNodeLock::take(const StoreLocation& where) {
  if (where.engine == StoreLocation::Engine::Sqlite) return std::unique_ptr<SoleNodeLock>(std::make_unique<NoLock>());
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "sprocket node lock", where.postgresql_uri.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  auto fail = [&](std::string why) {
    PQfinish(conn);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Unexpected{why};
  };
  if (PQstatus(conn) != CONNECTION_OK) return fail(fmt::format("cannot connect to PostgreSQL at {}: {}", where.postgresql_uri, PQerrorMessage(conn)));
  PGresult* r = PQexec(conn, kTakeLock);
  bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  bool taken = ok && PQgetvalue(r, 0, 0)[0] == 't';
  std::string why = ok ? "" : PQresultErrorMessage(r);
  PQclear(r);
  if (!ok) return fail(fmt::format("{}: cannot take the node lock: {}", where.describe(), why));
  if (!taken) {
    return fail(fmt::format("{}: another sprocket node serves from this database, and several nodes on one store are not "
                            "supported yet (docs/scale-out.md); stop the other node or give this one a database of its own",
                            where.describe()));
  }
  return std::unique_ptr<SoleNodeLock>(std::make_unique<PostgresLock>(conn));
}

}  // namespace sprocket::store
