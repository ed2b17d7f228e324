#include "store/store_migration.h"

#include <sqlite3.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <stdexcept>

#include "store/postgres_connection.h"
#include "store/store.h"
#include "util/json_text.h"

namespace sprocket::store {
namespace {

// The tables in an order their references allow, with the columns both schemas share (the
// PostgreSQL schema is SQLite's with PostgreSQL's types, postgres_store.cpp). `bytea` columns
// are SQLite blobs; `boolean` ones SQLite 0/1.
struct Table {
  const char* name;
  std::vector<const char*> columns;
  std::vector<const char*> casts;  // per column: the PostgreSQL type to cast the text to ("" for none)
};

const std::vector<Table>& tables() {
  static const std::vector<Table> kTables = {
      {"secrets", {"account_id", "name", "nonce", "ciphertext", "created_ms", "updated_ms"}, {"", "", "bytea", "bytea", "", ""}},
      {"admin_tokens", {"token_hash", "account_id", "created_ms"}, {"", "", ""}},
      {"deployments",
       {"account_id", "version", "name", "message", "created_ms", "archive", "deploy_id", "outcome", "committed"},
       {"", "", "", "", "", "bytea", "", "", "boolean"}},
      {"active_sources", {"account_id", "name", "version", "activated_seq"}, {"", "", "", ""}},
      {"execution_pages", {"id", "first_id", "min_started_ms", "max_started_ms", "records"}, {"", "", "", "", ""}},
      {"execution_page_functions", {"name", "account_id", "page_id"}, {"", "", ""}},
      {"execution_request_keys", {"key", "page_id"}, {"", ""}},
      {"action_executions",
       {"id", "account_id", "action", "callback_id", "event", "state", "attempts", "retries", "created_ms", "next_run_ms",
        "first_failure_ms", "finished_ms", "result", "lease_owner", "lease_expires_ms"},
       {"", "", "", "", "", "", "", "", "", "", "", "", "", "", ""}},
      {"action_attempts",
       {"execution_id", "number", "started_ms", "finished_ms", "outcome", "error", "duration_ms", "memory_mb", "retry_delay_ms", "lines"},
       {"", "", "", "", "", "", "", "", "", ""}},
  };
  return kTables;
}

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* st) const { sqlite3_finalize(st); }
};

class Postgres {
 public:
  explicit Postgres(const std::string& uri) : uri_(uri) {
    std::string why;
    conn_ = connect_postgres(uri, "sprocket store migrate", why);
    if (!conn_) throw std::runtime_error(why);
  }
  // Runs `sql` with text parameters (binary where `binary` says); throws with PostgreSQL's message.
  std::unique_ptr<PGresult, void (*)(PGresult*)> run(const std::string& sql, const std::vector<std::string>& values = {},
                                                     const std::vector<int>& binary = {}) {
    std::vector<const char*> pointers;
    std::vector<int> lengths;
    for (const auto& v : values) {
      pointers.push_back(v.data());
      lengths.push_back(static_cast<int>(v.size()));
    }
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(
        PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, pointers.data(), lengths.data(),
                     binary.empty() ? nullptr : binary.data(), 0),
        PQclear);
    auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error(fmt::format("PostgreSQL at {}: {}", uri_, trimmed_libpq_message(r ? PQresultErrorMessage(r.get())
                                                                                                  : PQerrorMessage(conn_.get()))));
    }
    return r;
  }
  std::int64_t count(const std::string& sql) { return std::stoll(PQgetvalue(run(sql).get(), 0, 0)); }

 private:
  std::string uri_;
  PgConnection conn_;
};

std::int64_t copy_table(sqlite3* source, Postgres& target, const Table& table) {
  std::string select = fmt::format("SELECT {} FROM {}", fmt::join(table.columns, ", "), table.name);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(source, select.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error(fmt::format("cannot read {} from SQLite: {}", table.name, sqlite3_errmsg(source)));
  }
  std::unique_ptr<sqlite3_stmt, StatementFinalizer> st(raw);
  std::vector<std::string> placeholders;
  std::vector<int> binary;
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    std::string cast = table.casts[i];
    placeholders.push_back(cast.empty() ? fmt::format("${}", i + 1) : fmt::format("${}::{}", i + 1, cast));
    binary.push_back(cast == "bytea" ? 1 : 0);
  }
  std::string insert = fmt::format("INSERT INTO {} ({}) VALUES ({})", table.name, fmt::join(table.columns, ", "), fmt::join(placeholders, ", "));
  std::int64_t rows = 0;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    std::vector<std::string> values;
    for (int c = 0; c < static_cast<int>(table.columns.size()); ++c) {
      const auto* bytes = static_cast<const char*>(sqlite3_column_blob(st.get(), c));
      std::string value(bytes ? bytes : "", static_cast<std::size_t>(sqlite3_column_bytes(st.get(), c)));
      if (sqlite3_column_type(st.get(), c) == SQLITE_FLOAT) value = fmt::format("{}", sqlite3_column_double(st.get(), c));
      // Text must be well-formed UTF-8 in PostgreSQL; the engines keep it so (store_contract_test).
      values.push_back(binary[c] ? value : util::valid_utf8_text(value));
    }
    target.run(insert, values, binary);
    ++rows;
  }
  if (rc != SQLITE_DONE) throw std::runtime_error(fmt::format("cannot read {} from SQLite: {}", table.name, sqlite3_errmsg(source)));
  return rows;
}

}  // namespace

Expected<MigrationReport, std::string> migrate_store(const StoreLocation& from, const StoreLocation& to) {
  if (from.engine != StoreLocation::Engine::Sqlite) return Unexpected{std::string("--from must name an SQLite store (sqlite:PATH)")};
  if (to.engine != StoreLocation::Engine::Postgresql) {
    return Unexpected{std::string("--to must name a PostgreSQL database (postgresql://HOST:PORT/DB)")};
  }
  try {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(from.sqlite_file, ec)) {
      return Unexpected{fmt::format("{} does not exist: name the SQLite file a node served from (DATA_DIR/sprocket.db)",
                                    from.sqlite_file.string())};
    }
    // Both at the current schema first: the columns copied are the same on both sides.
    open_store(from).reset();
    open_store(to).reset();

    Postgres target(to.postgresql_uri);
    auto held = target.count(
        "SELECT (SELECT COUNT(*) FROM secrets) + (SELECT COUNT(*) FROM admin_tokens) + (SELECT COUNT(*) FROM deployments) + "
        "(SELECT COUNT(*) FROM execution_pages) + (SELECT COUNT(*) FROM action_executions)");
    if (held > 0) {
      return Unexpected{fmt::format("{} already holds sprocket data ({} rows of secrets, tokens, deployments, logs or actions): "
                                    "migrate into an empty database (createdb a new one); nothing was copied",
                                    to.describe(), held)};
    }

    sqlite3* raw = nullptr;
    if (sqlite3_open_v2(from.sqlite_file.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      std::string why = raw ? sqlite3_errmsg(raw) : "out of memory";
      sqlite3_close(raw);
      return Unexpected{fmt::format("cannot open {}: {}", from.sqlite_file.string(), why)};
    }
    std::unique_ptr<sqlite3, SqliteCloser> source(raw);
    sqlite3_busy_timeout(source.get(), static_cast<int>(kDefaultBusyTimeout.count()));
    // One snapshot of the source, one transaction on the target.
    if (sqlite3_exec(source.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Unexpected{fmt::format("cannot read {}: {}", from.sqlite_file.string(), sqlite3_errmsg(source.get()))};
    }
    target.run("BEGIN");
    MigrationReport report;
    for (const auto& table : tables()) report.rows.emplace_back(table.name, copy_table(source.get(), target, table));
    // The counters that hand out numbers go on from the copied ones.
    sqlite3_stmt* raw_next = nullptr;
    std::int64_t next_execution = 1;
    if (sqlite3_prepare_v2(source.get(), "SELECT next_id FROM execution_sequence", -1, &raw_next, nullptr) == SQLITE_OK) {
      std::unique_ptr<sqlite3_stmt, StatementFinalizer> next(raw_next);
      if (sqlite3_step(next.get()) == SQLITE_ROW) next_execution = sqlite3_column_int64(next.get(), 0);
    }
    target.run("UPDATE execution_sequence SET next_id = $1", {std::to_string(next_execution)});
    target.run("SELECT setval('activation_order', GREATEST((SELECT COALESCE(MAX(activated_seq), 0) FROM active_sources), 1))");
    target.run("SELECT setval(pg_get_serial_sequence('action_executions', 'id'), "
               "GREATEST((SELECT COALESCE(MAX(id), 0) FROM action_executions), 1))");
    target.run("COMMIT");
    sqlite3_exec(source.get(), "COMMIT", nullptr, nullptr, nullptr);
    return report;
  } catch (const std::exception& e) {
    return Unexpected{fmt::format("{}; nothing was copied", e.what())};
  }
}

}  // namespace sprocket::store
