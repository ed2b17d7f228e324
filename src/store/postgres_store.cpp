// The PostgreSQL engine: the same Store as SQLite's, for several nodes sharing one state. One
// libpq connection per Store (a Store lives on one StoreExecutor thread), made again at the next
// call when it breaks. Execution records are kept in the same pages as in SQLite
// (record_codec.h). Text columns get well-formed UTF-8 (a database in UTF8 refuses anything
// else); binary values (sealed secrets, archives) are bytea.
#include <libpq-fe.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/postgres_connection.h"
#include "store/record_codec.h"
#include "store/store.h"
#include "util/json_text.h"

namespace sprocket::store {
namespace {

// Each entry upgrades the schema by one version; never edit one that has shipped. Version 1 is
// the whole of SQLite's schema version 7, with PostgreSQL's types.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE secrets (
      account_id BIGINT NOT NULL,
      name TEXT NOT NULL,
      nonce BYTEA NOT NULL,
      ciphertext BYTEA NOT NULL,
      created_ms BIGINT NOT NULL,
      updated_ms BIGINT NOT NULL,
      PRIMARY KEY (account_id, name)
    );
    CREATE TABLE execution_pages (
      id BIGINT PRIMARY KEY,
      first_id BIGINT NOT NULL,
      min_started_ms BIGINT NOT NULL,
      max_started_ms BIGINT NOT NULL,
      records TEXT NOT NULL
    );
    CREATE INDEX execution_pages_by_time ON execution_pages (max_started_ms);
    CREATE TABLE execution_page_functions (
      name TEXT NOT NULL,
      account_id BIGINT NOT NULL,
      page_id BIGINT NOT NULL,
      PRIMARY KEY (name, account_id, page_id)
    );
    CREATE INDEX execution_page_functions_by_page ON execution_page_functions (page_id);
    CREATE TABLE execution_request_keys (
      key BIGINT PRIMARY KEY,
      page_id BIGINT NOT NULL
    );
    CREATE TABLE execution_sequence (next_id BIGINT NOT NULL);
    INSERT INTO execution_sequence (next_id) VALUES (1);
    CREATE TABLE deployments (
      account_id BIGINT NOT NULL,
      version BIGINT NOT NULL,
      name TEXT NOT NULL,
      message TEXT NOT NULL,
      created_ms BIGINT NOT NULL,
      archive BYTEA NOT NULL,
      deploy_id TEXT NOT NULL DEFAULT '',
      outcome TEXT NOT NULL DEFAULT '',
      committed BOOLEAN NOT NULL DEFAULT FALSE,
      PRIMARY KEY (account_id, version)
    );
    CREATE UNIQUE INDEX deployments_by_deploy_id ON deployments (account_id, deploy_id) WHERE deploy_id <> '';
    CREATE SEQUENCE activation_order;
    CREATE TABLE active_sources (
      account_id BIGINT NOT NULL,
      name TEXT NOT NULL,
      version BIGINT NOT NULL,
      activated_seq BIGINT NOT NULL,
      PRIMARY KEY (account_id, name)
    );
    CREATE TABLE admin_tokens (
      token_hash TEXT PRIMARY KEY,
      account_id BIGINT NOT NULL,
      created_ms BIGINT NOT NULL
    );
    CREATE TABLE action_executions (
      id BIGSERIAL PRIMARY KEY,
      account_id BIGINT NOT NULL,
      action TEXT NOT NULL,
      callback_id TEXT NOT NULL UNIQUE,
      event TEXT NOT NULL,
      state TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      retries INTEGER NOT NULL,
      created_ms BIGINT NOT NULL,
      next_run_ms BIGINT NOT NULL,
      first_failure_ms BIGINT NOT NULL,
      finished_ms BIGINT NOT NULL,
      result TEXT NOT NULL
    );
    CREATE INDEX action_executions_due ON action_executions (state, next_run_ms);
    CREATE INDEX action_executions_by_action ON action_executions (account_id, action, id);
    CREATE TABLE action_attempts (
      execution_id BIGINT NOT NULL REFERENCES action_executions (id) ON DELETE CASCADE,
      number INTEGER NOT NULL,
      started_ms BIGINT NOT NULL,
      finished_ms BIGINT NOT NULL,
      outcome TEXT NOT NULL,
      error TEXT NOT NULL,
      duration_ms DOUBLE PRECISION NOT NULL,
      memory_mb INTEGER NOT NULL,
      retry_delay_ms BIGINT NOT NULL,
      lines TEXT NOT NULL,
      PRIMARY KEY (execution_id, number)
    );
    -- What every node keeps in memory and must reload when any node (or a CLI) changes it:
    -- counted for the polling change feed, and announced for LISTEN.
    CREATE TABLE change_counter (value BIGINT NOT NULL);
    INSERT INTO change_counter (value) VALUES (0);
    CREATE FUNCTION sprocket_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE change_counter SET value = value + 1;
      PERFORM pg_notify('sprocket_changes', TG_TABLE_NAME);
      RETURN NULL;
    END $$;
    CREATE TRIGGER secrets_changed AFTER INSERT OR UPDATE OR DELETE ON secrets
      FOR EACH STATEMENT EXECUTE FUNCTION sprocket_note_change();
    CREATE TRIGGER admin_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON admin_tokens
      FOR EACH STATEMENT EXECUTE FUNCTION sprocket_note_change();
    CREATE TRIGGER active_sources_changed AFTER INSERT OR UPDATE OR DELETE ON active_sources
      FOR EACH STATEMENT EXECUTE FUNCTION sprocket_note_change();
    )sql",
    // Leases on running executions (ActionLease), and request keys that two nodes may share:
    // the first 64 bits of UUIDv7 ids are unique per generator only, so a key can point to
    // pages of several nodes.
    R"sql(
    ALTER TABLE action_executions ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE action_executions ADD COLUMN lease_expires_ms BIGINT NOT NULL DEFAULT 0;
    CREATE INDEX action_executions_leases ON action_executions (lease_owner) WHERE state = 'running';
    ALTER TABLE execution_request_keys DROP CONSTRAINT execution_request_keys_pkey;
    ALTER TABLE execution_request_keys ADD PRIMARY KEY (key, page_id);
    )sql",
};

// Migrations of several nodes starting at once take turns: one runs them, the others then find
// the schema current. (An arbitrary constant: the key of sprocket's advisory lock.)
constexpr std::int64_t kMigrationLock = 0x5350524b4d494752;  // "SPRKMIGR"
constexpr int kDeploymentLockSpace = 0x53505244;            // "SPRD": with the account id as second key

// SQLSTATE classes of errors that go away by themselves: the connection (08), a serialization
// failure or deadlock (40), insufficient resources such as a full disk (53), the server
// shutting down (57), a system I/O error (58), a lock not available (55P03).
bool transient_sqlstate(std::string_view state) {
  if (state.size() != 5) return false;  // no SQLSTATE: libpq's own error (a broken connection is seen by its status)
  auto kind = state.substr(0, 2);
  return kind == "08" || kind == "40" || kind == "53" || kind == "57" || kind == "58" || state == "55P03";
}

// A bytea parameter: sent as it is, in binary.
struct Bytes {
  const std::string& value;
};

// Parameters of one statement, in order: $1, $2, … as they are added.
class Params {
 public:
  Params() = default;
  template <class... Values>
  explicit Params(const Values&... values) {
    (add(values), ...);
  }
  std::string add(std::int64_t v) { return push(std::to_string(v), false); }
  std::string add(int v) { return add(static_cast<std::int64_t>(v)); }
  std::string add(std::size_t v) { return add(static_cast<std::int64_t>(v)); }
  std::string add(double v) {
    if (std::isnan(v)) return push("NaN", false);
    if (std::isinf(v)) return push(v > 0 ? "Infinity" : "-Infinity", false);
    return push(fmt::format("{}", v), false);
  }
  std::string add(std::string_view text) { return push(util::valid_utf8_text(text), false); }
  std::string add(const std::string& text) { return add(std::string_view(text)); }
  std::string add(const char* text) { return add(std::string_view(text)); }
  std::string add(const Bytes& bytes) { return push(bytes.value, true); }
  // A PostgreSQL array literal of bigints or texts: {1,2} / {"a","b"}.
  std::string add(const std::vector<std::int64_t>& values) { return push(fmt::format("{{{}}}", fmt::join(values, ",")), false); }
  std::string add(const std::vector<std::string_view>& values) {
    std::string literal = "{";
    for (const auto& v : values) {
      if (literal.size() > 1) literal += ',';
      literal += '"';
      for (char c : util::valid_utf8_text(v)) {
        if (c == '"' || c == '\\') literal += '\\';
        literal += c;
      }
      literal += '"';
    }
    literal += '}';
    return push(std::move(literal), false);
  }

  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    for (const auto& v : values_) out.push_back(v.data());
    return out;
  }
  std::vector<int> lengths() const {
    std::vector<int> out;
    for (const auto& v : values_) out.push_back(static_cast<int>(v.size()));
    return out;
  }
  const std::vector<int>& formats() const { return formats_; }

 private:
  std::string push(std::string value, bool binary) {
    values_.push_back(std::move(value));
    formats_.push_back(binary ? 1 : 0);
    return fmt::format("${}", values_.size());
  }
  std::vector<std::string> values_;
  std::vector<int> formats_;
};

class Result {
 public:
  explicit Result(PGresult* result) : result_(result) {}
  ~Result() { PQclear(result_); }
  Result(Result&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  Result& operator=(Result&&) = delete;

  int rows() const { return PQntuples(result_); }
  bool null(int row, int col) const { return PQgetisnull(result_, row, col) != 0; }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(result_, row, col), static_cast<std::size_t>(PQgetlength(result_, row, col)));
  }
  std::int64_t integer(int row, int col) const {
    std::int64_t v = 0;
    const char* p = PQgetvalue(result_, row, col);
    std::from_chars(p, p + PQgetlength(result_, row, col), v);
    return v;
  }
  double real(int row, int col) const { return std::strtod(PQgetvalue(result_, row, col), nullptr); }
  bool boolean(int row, int col) const { return PQgetvalue(result_, row, col)[0] == 't'; }
  std::string bytes(int row, int col) const {  // a bytea column
    std::size_t length = 0;
    unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, col)), &length);
    if (!raw) throw StoreError("postgresql: out of memory reading a binary value", true);
    std::string out(reinterpret_cast<const char*>(raw), length);
    PQfreemem(raw);
    return out;
  }
  std::size_t affected() const { return static_cast<std::size_t>(std::strtoull(PQcmdTuples(result_), nullptr, 10)); }

 private:
  PGresult* result_;
};

class Connection {
 public:
  explicit Connection(std::string uri) : uri_(std::move(uri)) { connect(); }
  ~Connection() {
    if (conn_) PQfinish(conn_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement with parameters; throws StoreError (transient when the same call may work later).
  Result run(const std::string& sql, const Params& params = {}) {
    ensure_connected();
    auto pointers = params.pointers();
    auto lengths = params.lengths();
    PGresult* result = PQexecParams(conn_, sql.c_str(), params.size(), nullptr, pointers.data(), lengths.data(),
                                    params.formats().data(), 0);
    return checked(result, sql);
  }
  // Statements without parameters, several at once (migrations, BEGIN, COMMIT).
  void exec(const std::string& sql) {
    ensure_connected();
    checked(PQexec(conn_, sql.c_str()), sql);
  }
  void begin() {
    exec("BEGIN");
    transaction_open_ = true;
  }
  void commit() {
    exec("COMMIT");
    transaction_open_ = false;
  }
  void rollback_quietly() {
    transaction_open_ = false;
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
  }

 private:
  void connect() {
    if (conn_) PQfinish(conn_);
    std::string why;
    conn_ = connect_postgres(uri_, "sprocket", why).release();
    if (!conn_) throw StoreError(why, true);
  }
  void ensure_connected() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
    // A new connection would run the rest of a transaction outside it, one statement at a time.
    if (transaction_open_) throw StoreError(fmt::format("the connection to PostgreSQL at {} broke during a transaction", uri_), true);
    if (conn_) {
      PQreset(conn_);
      if (PQstatus(conn_) == CONNECTION_OK) return;
    }
    connect();
  }
  Result checked(PGresult* raw, const std::string& sql) {
    Result result(raw);
    auto status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    const char* state = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
    std::string why = trimmed(raw ? PQresultErrorMessage(raw) : PQerrorMessage(conn_));
    if (why.empty()) why = trimmed(PQerrorMessage(conn_));
    bool transient = PQstatus(conn_) != CONNECTION_OK || transient_sqlstate(state ? state : "");
    throw StoreError(fmt::format("postgresql: {} (in: {})", why, first_line(sql)), transient);
  }
  static std::string trimmed(const char* text) { return trimmed_libpq_message(text); }
  static std::string first_line(const std::string& sql) {
    auto start = sql.find_first_not_of(" \n");
    if (start == std::string::npos) return "";
    auto end = sql.find('\n', start);
    return sql.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }

  std::string uri_;
  PGconn* conn_ = nullptr;
  bool transaction_open_ = false;
};

// One row of a Result, as record_codec's readers take it.
struct RowView {
  const Result& result;
  int row;
  std::int64_t integer(int col) const { return result.integer(row, col); }
  std::string text(int col) const { return result.text(row, col); }
};

ActionExecutionRecord read_execution(const Result& r, int row) { return store::read_execution(RowView{r, row}); }

// Pages are read this many at a time, newest first, until a query has its records.
constexpr int kPagesPerRead = 8;

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(std::string uri) : db_(std::move(uri)) { migrate(); }

  void put_secret(const SecretRecord& s) override {
    Params p(s.account_id, s.name, Bytes{s.nonce}, Bytes{s.ciphertext}, s.updated_ms);
    db_.run(R"sql(INSERT INTO secrets (account_id, name, nonce, ciphertext, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $5)
                  ON CONFLICT (account_id, name) DO UPDATE SET nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,
                    updated_ms = EXCLUDED.updated_ms)sql",
            p);
  }

  bool delete_secret(std::int64_t account_id, const std::string& name) override {
    Params p(account_id, name);
    return db_.run("DELETE FROM secrets WHERE account_id = $1 AND name = $2", p).affected() > 0;
  }

  std::vector<SecretRecord> secrets() override {
    auto r = db_.run("SELECT account_id, name, nonce, ciphertext, created_ms, updated_ms FROM secrets ORDER BY account_id, name");
    std::vector<SecretRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.integer(i, 0), r.text(i, 1), r.bytes(i, 2), r.bytes(i, 3), r.integer(i, 4), r.integer(i, 5)});
    return out;
  }

  void append_executions(std::vector<ExecutionRecord>& records) override {
    if (records.empty()) return;
    in_transaction([&] {
      // The sequence's row stays locked until the commit: nodes' pages commit in id order.
      Params count(records.size());
      auto next = db_.run("UPDATE execution_sequence SET next_id = next_id + $1 RETURNING next_id - $1", count);
      std::int64_t id = next.rows() ? next.integer(0, 0) : 1;
      for (auto& r : records) r.id = id++;
      const ExecutionPage page = make_page(records);
      Params row(page.id, page.first_id, page.min_started_ms, page.max_started_ms, page.records);
      db_.run("INSERT INTO execution_pages (id, first_id, min_started_ms, max_started_ms, records) VALUES ($1, $2, $3, $4, $5)", row);
      std::vector<std::string_view> names;
      std::vector<std::int64_t> accounts;
      for (const auto& [name, account] : page.functions) {
        names.push_back(name);
        accounts.push_back(account);
      }
      Params functions(names, accounts, page.id);
      db_.run(R"sql(INSERT INTO execution_page_functions (name, account_id, page_id)
                    SELECT f.name, f.account_id, $3 FROM unnest($1::text[], $2::bigint[]) AS f (name, account_id)
                    ON CONFLICT DO NOTHING)sql",
              functions);
      Params keys(page.request_keys, page.id);
      db_.run(R"sql(INSERT INTO execution_request_keys (key, page_id) SELECT k, $2 FROM unnest($1::bigint[]) AS k
                    ON CONFLICT DO NOTHING)sql",
              keys);
    });
  }

  std::vector<ExecutionRecord> find_executions(const ExecutionQuery& q) override {
    std::vector<ExecutionRecord> out;
    const bool following = q.after_id.has_value();
    std::optional<std::int64_t> cursor = q.after_id;  // the last page read: the next read goes past it
    while (out.size() < q.limit) {
      Params p;
      std::string sql = "SELECT id, records FROM execution_pages WHERE TRUE";
      if (q.request_id) sql += fmt::format(" AND id IN (SELECT page_id FROM execution_request_keys WHERE key = {})", p.add(request_key(*q.request_id)));
      if (q.function) {
        sql += fmt::format(" AND id IN (SELECT page_id FROM execution_page_functions WHERE name = {}", p.add(*q.function));
        if (q.account_id) sql += fmt::format(" AND account_id = {}", p.add(*q.account_id));
        sql += ")";
      }
      if (q.since_ms) sql += fmt::format(" AND max_started_ms >= {}", p.add(*q.since_ms));
      if (cursor) sql += fmt::format(" AND id {} {}", following ? ">" : "<", p.add(*cursor));
      sql += fmt::format(" ORDER BY id {} LIMIT {}", following ? "ASC" : "DESC", kPagesPerRead);
      auto r = db_.run(sql, p);
      for (int i = 0; i < r.rows() && out.size() < q.limit; ++i) take_matching_records(r.text(i, 1), q, out);
      if (r.rows() < kPagesPerRead) break;
      cursor = r.integer(r.rows() - 1, 0);
    }
    if (!following) std::reverse(out.begin(), out.end());
    return out;
  }

  std::size_t prune_executions(std::int64_t older_than_ms) override {
    return in_transaction([&] {
      Params p(older_than_ms);
      auto count = db_.run("SELECT COALESCE(SUM(id - first_id + 1), 0) FROM execution_pages WHERE max_started_ms < $1", p);
      auto removed = static_cast<std::size_t>(count.integer(0, 0));
      if (removed == 0) return removed;
      db_.run("DELETE FROM execution_page_functions WHERE page_id IN (SELECT id FROM execution_pages WHERE max_started_ms < $1)", p);
      db_.run("DELETE FROM execution_pages WHERE max_started_ms < $1", p);
      // Request keys are in time order: those from a day before the cutoff can only point at
      // pruned pages (a key that outlives its page finds nothing, and goes at a later prune).
      Params keys(request_key_at(older_than_ms - 86'400'000));
      db_.run("DELETE FROM execution_request_keys WHERE key < $1", keys);
      return removed;
    });
  }

  std::int64_t store_deployment(std::int64_t account_id, const std::string& name, const std::string& message,
                                const std::string& archive, std::int64_t created_ms, const std::string& deploy_id) override {
    return in_transaction([&] {
      lock_account_deployments(account_id);  // versions are numbered per account: one deploy at a time, on any node
      if (!deploy_id.empty()) {
        Params p(account_id, deploy_id);
        db_.run(R"sql(DELETE FROM deployments WHERE account_id = $1 AND deploy_id = $2 AND NOT committed
                      AND NOT EXISTS (SELECT 1 FROM active_sources a WHERE a.account_id = $1 AND a.version = deployments.version))sql",
                p);
      }
      Params next(account_id);
      auto r = db_.run("SELECT COALESCE(MAX(version), 0) + 1 FROM deployments WHERE account_id = $1", next);
      std::int64_t version = r.integer(0, 0);
      Params p(account_id, version, name, message, created_ms, Bytes{archive}, deploy_id);
      db_.run(R"sql(INSERT INTO deployments (account_id, version, name, message, created_ms, archive, deploy_id, committed)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE))sql",
              p);
      return version;
    });
  }

  bool remove_inactive_deployment(std::int64_t account_id, std::int64_t version) override {
    Params p(account_id, version);
    return db_.run(R"sql(DELETE FROM deployments WHERE account_id = $1 AND version = $2
                         AND NOT EXISTS (SELECT 1 FROM active_sources a WHERE a.account_id = $1 AND a.version = $2))sql",
                   p)
               .affected() > 0;
  }

  std::vector<DeploymentRecord> remove_uncommitted_deployments(std::int64_t stored_before_ms) override {
    Params before(stored_before_ms);
    auto r = db_.run(R"sql(DELETE FROM deployments WHERE NOT committed AND created_ms < $1 AND NOT EXISTS
                           (SELECT 1 FROM active_sources a WHERE a.account_id = deployments.account_id AND a.version = deployments.version)
                           RETURNING account_id, version, name, message, created_ms)sql",
                     before);
    std::vector<DeploymentRecord> removed;
    for (int i = 0; i < r.rows(); ++i) removed.push_back({r.integer(i, 0), r.integer(i, 1), r.text(i, 2), r.text(i, 3), r.integer(i, 4), false});
    std::sort(removed.begin(), removed.end(),
              [](const auto& a, const auto& b) { return std::tie(a.account_id, a.version) < std::tie(b.account_id, b.version); });
    return removed;
  }

  std::vector<DeploymentRecord> deployments(std::int64_t account_id) override {
    Params p(account_id);
    auto r = db_.run(R"sql(SELECT d.account_id, d.version, d.name, d.message, d.created_ms,
                                  EXISTS (SELECT 1 FROM active_sources a WHERE a.account_id = d.account_id AND a.version = d.version)
                           FROM deployments d WHERE d.account_id = $1 ORDER BY d.version DESC)sql",
                     p);
    std::vector<DeploymentRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.integer(i, 0), r.integer(i, 1), r.text(i, 2), r.text(i, 3), r.integer(i, 4), r.boolean(i, 5)});
    return out;
  }

  std::optional<std::string> deployment_archive(std::int64_t account_id, std::int64_t version) override {
    Params p(account_id, version);
    auto r = db_.run("SELECT archive FROM deployments WHERE account_id = $1 AND version = $2", p);
    if (r.rows() == 0) return std::nullopt;
    return r.bytes(0, 0);
  }

  bool activate_deployment(std::int64_t account_id, std::int64_t version, const std::string& outcome) override {
    return in_transaction([&] {
      Params p(account_id, version);
      auto r = db_.run("SELECT name FROM deployments WHERE account_id = $1 AND version = $2", p);
      if (r.rows() == 0) return false;  // nothing written: committing changes nothing
      Params active(account_id, r.text(0, 0), version);
      db_.run(R"sql(INSERT INTO active_sources (account_id, name, version, activated_seq) VALUES ($1, $2, $3, nextval('activation_order'))
                    ON CONFLICT (account_id, name) DO UPDATE SET version = EXCLUDED.version, activated_seq = EXCLUDED.activated_seq)sql",
              active);
      db_.run("UPDATE deployments SET committed = TRUE WHERE account_id = $1 AND version = $2", p);
      if (!outcome.empty()) {
        Params o(account_id, version, outcome);
        db_.run("UPDATE deployments SET outcome = $3 WHERE account_id = $1 AND version = $2", o);
      }
      return true;
    });
  }

  std::optional<CommittedDeploy> committed_deploy(std::int64_t account_id, const std::string& deploy_id) override {
    if (deploy_id.empty()) return std::nullopt;
    Params p(account_id, deploy_id);
    auto r = db_.run("SELECT version, name, archive, outcome FROM deployments WHERE account_id = $1 AND deploy_id = $2 AND outcome <> ''", p);
    if (r.rows() == 0) return std::nullopt;
    return CommittedDeploy{r.integer(0, 0), r.text(0, 1), r.bytes(0, 2), r.text(0, 3)};
  }

  std::vector<ActiveSource> active_sources() override {
    auto r = db_.run("SELECT account_id, name, version, activated_seq FROM active_sources ORDER BY activated_seq");
    std::vector<ActiveSource> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.integer(i, 0), r.text(i, 1), r.integer(i, 2), r.integer(i, 3)});
    return out;
  }

  void add_admin_token(const std::string& token_hash, std::int64_t account_id, std::int64_t created_ms) override {
    Params p(token_hash, account_id, created_ms);
    db_.run("INSERT INTO admin_tokens (token_hash, account_id, created_ms) VALUES ($1, $2, $3)", p);
  }

  std::vector<AdminTokenRecord> admin_tokens() override {
    auto r = db_.run("SELECT token_hash, account_id, created_ms FROM admin_tokens ORDER BY created_ms, token_hash");
    std::vector<AdminTokenRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.integer(i, 1), r.integer(i, 2)});
    return out;
  }

  bool remove_admin_token(const std::string& token_hash) override {
    return db_.run("DELETE FROM admin_tokens WHERE token_hash = $1", Params(token_hash)).affected() > 0;
  }

  void enqueue_action(ActionExecutionRecord& e) override {
    Params p(e.account_id, e.action, e.callback_id, e.event_json, e.created_ms, e.next_run_ms);
    auto r = db_.run(R"sql(INSERT INTO action_executions (account_id, action, callback_id, event, state, attempts, retries,
                             created_ms, next_run_ms, first_failure_ms, finished_ms, result)
                           VALUES ($1, $2, $3, $4, 'queued', 0, 0, $5, $6, 0, 0, '') RETURNING id)sql",
                     p);
    e.id = r.integer(0, 0);
    e.state = "queued";
  }

  std::vector<ActionExecutionRecord> claim_due_actions(std::int64_t now_ms, std::size_t limit, const ActionLease& lease) override {
    if (limit == 0) return {};
    return in_transaction([&] {
      Params due(now_ms, limit);
      // SKIP LOCKED: what another node is claiming at this moment is not waited for, nor taken.
      auto r = db_.run(std::string(kExecutionColumns) +
                           " WHERE state = 'queued' AND next_run_ms <= $1 ORDER BY next_run_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                       due);
      std::vector<ActionExecutionRecord> claimed;
      for (int i = 0; i < r.rows(); ++i) claimed.push_back(read_execution(r, i));
      for (auto& e : claimed) {
        e.state = "running";
        e.attempts += 1;
        e.lease_owner = lease.owner;
        e.lease_expires_ms = lease.expires_ms;
        Params run(e.id, lease.owner, lease.expires_ms);
        db_.run("UPDATE action_executions SET state = 'running', attempts = attempts + 1, lease_owner = $2, lease_expires_ms = $3 "
                "WHERE id = $1",
                run);
        Params attempt(e.id, e.attempts, now_ms);
        db_.run(R"sql(INSERT INTO action_attempts (execution_id, number, started_ms, finished_ms, outcome, error,
                        duration_ms, memory_mb, retry_delay_ms, lines)
                      VALUES ($1, $2, $3, 0, 'RUNNING', '', 0, 0, 0, '[]'))sql",
                attempt);
      }
      return claimed;
    });
  }

  bool finish_action_attempt(const ActionExecutionRecord& e, const ActionAttemptRecord& a) override {
    return in_transaction([&] {
      Params p(e.id, e.state, e.next_run_ms, e.first_failure_ms, e.finished_ms, e.result_json, a.number, e.retries);
      auto updated = db_.run(R"sql(UPDATE action_executions SET state = $2, next_run_ms = $3, first_failure_ms = $4, finished_ms = $5,
                                     result = $6, retries = $8, lease_owner = '', lease_expires_ms = 0
                                   WHERE id = $1 AND state = 'running' AND attempts = $7)sql",
                             p);
      if (updated.affected() == 0) return false;  // not the attempt running: leave everything as it is
      Params at(e.id, a.number, a.finished_ms, a.outcome, a.error, a.duration_ms, a.memory_mb, a.retry_delay_ms, encode_lines(a.lines));
      db_.run(R"sql(UPDATE action_attempts SET finished_ms = $3, outcome = $4, error = $5, duration_ms = $6, memory_mb = $7,
                      retry_delay_ms = $8, lines = $9 WHERE execution_id = $1 AND number = $2)sql",
              at);
      return true;
    });
  }

  std::size_t renew_action_leases(const ActionLease& lease) override {
    Params p(lease.owner, lease.expires_ms);
    return db_.run("UPDATE action_executions SET lease_expires_ms = $2 WHERE state = 'running' AND lease_owner = $1", p).affected();
  }

  std::size_t requeue_interrupted_actions(const InterruptedActions& which) override {
    return in_transaction([&] {
      // Locked first: a renewal (or another node's sweep) waits for this transaction, and then
      // finds them no longer running. SKIP LOCKED: what another sweep holds, it takes back.
      Params expired(which.lease_expired_before_ms);
      auto r = db_.run("SELECT id FROM action_executions WHERE state = 'running' AND lease_expires_ms < $1 FOR UPDATE SKIP LOCKED",
                       expired);
      std::vector<std::int64_t> ids;
      for (int i = 0; i < r.rows(); ++i) ids.push_back(r.integer(i, 0));
      if (ids.empty()) return std::size_t{0};
      Params at(which.now_ms, which.why, ids);
      db_.run(R"sql(UPDATE action_attempts SET outcome = 'INTERRUPTED', finished_ms = $1, error = $2
                    WHERE outcome = 'RUNNING' AND execution_id = ANY($3::bigint[]))sql",
              at);
      Params give_up(which.now_ms, which.give_up_result, which.max_interruptions, ids);
      db_.run(R"sql(UPDATE action_executions SET state = 'failed', finished_ms = $1, result = $2, lease_owner = '', lease_expires_ms = 0
                    WHERE id = ANY($4::bigint[]) AND (SELECT COUNT(*) FROM action_attempts a
                      WHERE a.execution_id = action_executions.id AND a.outcome = 'INTERRUPTED') >= $3)sql",
              give_up);
      Params requeue(which.now_ms, ids);
      return db_.run(R"sql(UPDATE action_executions SET state = 'queued', next_run_ms = $1, lease_owner = '', lease_expires_ms = 0
                           WHERE state = 'running' AND id = ANY($2::bigint[]))sql",
                     requeue)
          .affected();
    });
  }

  std::optional<std::int64_t> next_action_due_ms() override {
    auto r = db_.run("SELECT MIN(next_run_ms) FROM action_executions WHERE state = 'queued'");
    if (r.rows() == 0 || r.null(0, 0)) return std::nullopt;
    return r.integer(0, 0);
  }

  std::optional<ActionExecutionRecord> action_execution(std::int64_t id) override {
    Params p(id);
    auto r = db_.run(std::string(kExecutionColumns) + " WHERE id = $1", p);
    if (r.rows() == 0) return std::nullopt;
    auto found = read_execution(r, 0);
    auto at = db_.run(R"sql(SELECT number, started_ms, finished_ms, outcome, error, duration_ms, memory_mb, retry_delay_ms, lines
                            FROM action_attempts WHERE execution_id = $1 ORDER BY number)sql",
                      p);
    for (int i = 0; i < at.rows(); ++i) {
      found.attempt_list.push_back({static_cast<int>(at.integer(i, 0)), at.integer(i, 1), at.integer(i, 2), at.text(i, 3), at.text(i, 4),
                                    at.real(i, 5), static_cast<int>(at.integer(i, 6)), at.integer(i, 7), decode_lines(at.text(i, 8))});
    }
    return found;
  }

  std::vector<ActionExecutionRecord> find_action_executions(const ActionExecutionQuery& q) override {
    Params p;
    std::string sql = std::string(kExecutionColumns) + " WHERE TRUE";
    if (q.account_id) sql += fmt::format(" AND account_id = {}", p.add(*q.account_id));
    if (q.action) sql += fmt::format(" AND action = {}", p.add(*q.action));
    if (q.state) sql += fmt::format(" AND state = {}", p.add(*q.state));
    sql += fmt::format(" ORDER BY id DESC LIMIT {}", p.add(q.limit));
    auto r = db_.run(sql, p);
    std::vector<ActionExecutionRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_execution(r, i));
    return out;
  }

  std::size_t prune_action_executions(std::int64_t finished_before_ms) override {
    Params p(finished_before_ms);
    return db_.run("DELETE FROM action_executions WHERE state IN ('succeeded', 'failed') AND finished_ms < $1", p).affected();
  }

  std::int64_t external_change_counter() override {
    auto r = db_.run("SELECT value FROM change_counter");
    return r.rows() ? r.integer(0, 0) : 0;
  }

 private:
  void lock_account_deployments(std::int64_t account_id) {
    Params p(static_cast<std::int64_t>(kDeploymentLockSpace), account_id % 2147483647);
    db_.run("SELECT pg_advisory_xact_lock($1::int, $2::int)", p);
  }

  // Runs `work` in one transaction: committed when it returns, rolled back when it throws.
  template <class Work>
  std::invoke_result_t<Work&> in_transaction(Work work) {
    db_.begin();
    try {
      if constexpr (std::is_void_v<decltype(work())>) {
        work();
        db_.commit();
      } else {
        auto result = work();
        db_.commit();
        return result;
      }
    } catch (...) {
      db_.rollback_quietly();
      throw;
    }
  }

  void migrate() {
    in_transaction([&] {
      Params lock(kMigrationLock);
      db_.run("SELECT pg_advisory_xact_lock($1)", lock);
      db_.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      auto r = db_.run("SELECT COALESCE(MAX(version), 0) FROM schema_version");
      std::int64_t version = r.integer(0, 0);
      constexpr auto latest = static_cast<std::int64_t>(std::size(kMigrations));
      if (version > latest) {
        throw StoreError(fmt::format("the database has schema version {}, newer than this sprocket knows ({}); upgrade sprocket",
                                     version, latest));
      }
      for (auto v = version; v < latest; ++v) {
        db_.exec(kMigrations[v]);
        Params next(v + 1);
        db_.run("INSERT INTO schema_version (version) VALUES ($1)", next);
      }
    });
  }

  Connection db_;
};

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string& uri) { return std::make_unique<PostgresStore>(uri); }

}  // namespace sprocket::store
