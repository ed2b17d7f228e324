#include <fcntl.h>
#include <sqlite3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <thread>
#include <type_traits>
#include <fmt/format.h>

#include "store/record_codec.h"
#include "store/store.h"
#include "util/json_text.h"
#include "util/private_files.h"

namespace sprocket::store {
namespace {

// Each entry upgrades the schema by one version; never edit one that has shipped. The SQL
// keeps to what PostgreSQL also accepts, apart from the id column types.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE secrets (
      account_id INTEGER NOT NULL,
      name TEXT NOT NULL,
      nonce BLOB NOT NULL,
      ciphertext BLOB NOT NULL,
      created_ms INTEGER NOT NULL,
      updated_ms INTEGER NOT NULL,
      PRIMARY KEY (account_id, name)
    );
    CREATE TABLE executions (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      request_id TEXT NOT NULL,
      account_id INTEGER NOT NULL,
      function TEXT NOT NULL,
      method TEXT NOT NULL,
      path TEXT NOT NULL,
      http_status INTEGER NOT NULL,
      status TEXT NOT NULL,
      execution_ms REAL NOT NULL,
      queue_ms REAL NOT NULL,
      memory_mb INTEGER NOT NULL,
      cold_start INTEGER NOT NULL,
      started_ms INTEGER NOT NULL,
      error TEXT NOT NULL,
      lines TEXT NOT NULL
    );
    CREATE INDEX executions_by_request ON executions (request_id);
    CREATE INDEX executions_by_function ON executions (account_id, function, id);
    )sql",
    R"sql(
    CREATE TABLE deployments (
      account_id INTEGER NOT NULL,
      version INTEGER NOT NULL,
      name TEXT NOT NULL,
      message TEXT NOT NULL,
      created_ms INTEGER NOT NULL,
      archive BLOB NOT NULL,
      PRIMARY KEY (account_id, version)
    );
    CREATE TABLE active_sources (
      account_id INTEGER NOT NULL,
      name TEXT NOT NULL,
      version INTEGER NOT NULL,
      activated_seq INTEGER NOT NULL,
      PRIMARY KEY (account_id, name)
    );
    )sql",
    R"sql(
    CREATE TABLE admin_tokens (
      token_hash TEXT PRIMARY KEY,
      account_id INTEGER NOT NULL,
      created_ms INTEGER NOT NULL
    );
    )sql",
    R"sql(
    CREATE TABLE action_executions (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      account_id INTEGER NOT NULL,
      action TEXT NOT NULL,
      callback_id TEXT NOT NULL UNIQUE,
      event TEXT NOT NULL,
      state TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      retries INTEGER NOT NULL,
      created_ms INTEGER NOT NULL,
      next_run_ms INTEGER NOT NULL,
      first_failure_ms INTEGER NOT NULL,
      finished_ms INTEGER NOT NULL,
      result TEXT NOT NULL
    );
    CREATE INDEX action_executions_due ON action_executions (state, next_run_ms);
    CREATE INDEX action_executions_by_action ON action_executions (account_id, action, id);
    CREATE TABLE action_attempts (
      execution_id INTEGER NOT NULL REFERENCES action_executions (id) ON DELETE CASCADE,
      number INTEGER NOT NULL,
      started_ms INTEGER NOT NULL,
      finished_ms INTEGER NOT NULL,
      outcome TEXT NOT NULL,
      error TEXT NOT NULL,
      duration_ms REAL NOT NULL,
      memory_mb INTEGER NOT NULL,
      retry_delay_ms INTEGER NOT NULL,
      lines TEXT NOT NULL,
      PRIMARY KEY (execution_id, number)
    );
    )sql",
    // Execution records in pages: one row per batch of records (a JSON array) instead of a row
    // and two index entries per record, which cost more than serving the request. Lookups go
    // through two small tables: the pages holding a function (by name or path), and the page
    // of each request id (by its first 64 bits: UUIDv7 time and counter, so keys are appended).
    // The old rows are moved into pages by the code that runs this migration.
    R"sql(
    CREATE TABLE execution_pages (
      id INTEGER PRIMARY KEY,
      first_id INTEGER NOT NULL,
      min_started_ms INTEGER NOT NULL,
      max_started_ms INTEGER NOT NULL,
      records TEXT NOT NULL
    );
    CREATE TABLE execution_page_functions (
      name TEXT NOT NULL,
      account_id INTEGER NOT NULL,
      page_id INTEGER NOT NULL,
      PRIMARY KEY (name, account_id, page_id)
    ) WITHOUT ROWID;
    CREATE INDEX execution_page_functions_by_page ON execution_page_functions (page_id);
    CREATE TABLE execution_request_keys (
      key INTEGER PRIMARY KEY,
      page_id INTEGER NOT NULL
    );
    CREATE TABLE execution_sequence (next_id INTEGER NOT NULL);
    INSERT INTO execution_sequence (next_id) SELECT COALESCE(MAX(id), 0) + 1 FROM executions;
    )sql",
    // A client's id for each upload and the answer its deploy got, so that a retry after a
    // broken connection gets that answer instead of deploying the same upload twice.
    R"sql(
    ALTER TABLE deployments ADD COLUMN deploy_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE deployments ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
    CREATE UNIQUE INDEX deployments_by_deploy_id ON deployments (account_id, deploy_id) WHERE deploy_id <> '';
    )sql",
    // Whether a version reached its deploy's commit point (its activation). A deploy stores its
    // version before the files are in place; one cut off in between left a row that was never
    // deployed, and the start-up removes those. Older versions count as committed, except those
    // whose deploy id never got its answer stored (every committed deploy with an id has one);
    // one of those that a rollback made active is kept all the same (remove_uncommitted_deployments).
    R"sql(
    ALTER TABLE deployments ADD COLUMN committed INTEGER NOT NULL DEFAULT 1;
    UPDATE deployments SET committed = 0 WHERE deploy_id <> '' AND outcome = '';
    )sql",
    // Leases on running executions (ActionLease): executions running when this version came
    // are taken back at the next start, as before (their lease has expired).
    R"sql(
    ALTER TABLE action_executions ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE action_executions ADD COLUMN lease_expires_ms INTEGER NOT NULL DEFAULT 0;
    )sql",
};
constexpr int kPagedExecutionsVersion = 5;  // after this migration, the old rows move into pages

// Errors that go away by themselves: another connection holds the lock, the disk is full or
// failing for a moment. Callers may retry what failed with these.
bool transient_sqlite_error(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
      return true;
    default:
      return false;
  }
}

StoreError sqlite_error(int rc, const std::string& what) { return StoreError(what, transient_sqlite_error(rc)); }

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); rc != SQLITE_OK) {
      throw sqlite_error(rc, fmt::format("sqlite: cannot prepare \"{}\": {}", sql, sqlite3_errmsg(db)));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // The text must stay unchanged until the statement is reset: no copy is made.
  Statement& bind_unowned(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& bind_blob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw sqlite_error(rc, fmt::format("sqlite: {}", sqlite3_errmsg(db_)));
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::filesystem::path& file, std::chrono::milliseconds busy_timeout) {
    // Created 0600 before SQLite sees it: SQLite would make it 0644 less the umask, and gives
    // the -wal and -shm files it creates later the database file's mode.
    if (file.string() != ":memory:") util::open_private_file(file, O_RDWR);
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw StoreError(fmt::format("cannot open the database {}: {}", file.string(), why));
    }
    // Another process (the CLI beside a server) may hold the write lock for a moment.
    sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
    switch_to_wal(busy_timeout);
    exec("PRAGMA synchronous=NORMAL");  // WAL + NORMAL: durable across process crashes (kill -9)
    exec("PRAGMA foreign_keys=ON");
    // Logging writes a lot, but to few pages (executions are stored a page of records per row):
    // 8 MB of cache holds them, and it counts in the server's own memory (the RSS target of
    // docs/performance.md); the file's pages stay in the kernel's page cache anyway. Checkpoint
    // the WAL less often.
    exec("PRAGMA cache_size=-8000");
    exec("PRAGMA wal_autocheckpoint=4000");
    migrate();
  }
  ~SqliteStore() override {
    insert_request_key_.reset();  // statements are finalized before the connection closes
    sqlite3_close(db_);
  }

  void put_secret(const SecretRecord& s) override {
    Statement st(db_, R"sql(INSERT INTO secrets (account_id, name, nonce, ciphertext, created_ms, updated_ms)
                            VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                            ON CONFLICT (account_id, name) DO UPDATE SET nonce = ?3, ciphertext = ?4, updated_ms = ?5)sql");
    st.bind(1, s.account_id).bind(2, s.name).bind_blob(3, s.nonce).bind_blob(4, s.ciphertext).bind(5, s.updated_ms);
    st.step();
  }

  bool delete_secret(std::int64_t account_id, const std::string& name) override {
    Statement st(db_, "DELETE FROM secrets WHERE account_id = ?1 AND name = ?2");
    st.bind(1, account_id).bind(2, name);
    st.step();
    return sqlite3_changes(db_) > 0;
  }

  std::vector<SecretRecord> secrets() override {
    Statement st(db_, "SELECT account_id, name, nonce, ciphertext, created_ms, updated_ms FROM secrets ORDER BY account_id, name");
    std::vector<SecretRecord> out;
    while (st.step()) out.push_back({st.integer(0), st.text(1), st.text(2), st.text(3), st.integer(4), st.integer(5)});
    return out;
  }

  void append_executions(std::vector<ExecutionRecord>& records) override {
    if (records.empty()) return;
    in_transaction([&] { write_page(records, true); });
  }

  std::vector<ExecutionRecord> find_executions(const ExecutionQuery& q) override {
    // Candidate pages, newest first (oldest first when following), narrowed by the lookup
    // tables; then their records, filtered, until the limit.
    std::string sql = "SELECT records FROM execution_pages WHERE 1 = 1";
    if (q.request_id) sql += " AND id = (SELECT page_id FROM execution_request_keys WHERE key = ?1)";
    if (q.function) {
      sql += " AND id IN (SELECT page_id FROM execution_page_functions WHERE name = ?2";
      if (q.account_id) sql += " AND account_id = ?3";
      sql += ")";
    }
    if (q.since_ms) sql += " AND max_started_ms >= ?4";
    if (q.after_id) sql += " AND id > ?5 ORDER BY id ASC";
    else sql += " ORDER BY id DESC";
    Statement st(db_, sql.c_str());
    if (q.request_id) st.bind(1, request_key(*q.request_id));
    if (q.function) st.bind(2, *q.function);
    if (q.function && q.account_id) st.bind(3, *q.account_id);
    if (q.since_ms) st.bind(4, *q.since_ms);
    if (q.after_id) st.bind(5, *q.after_id);
    std::vector<ExecutionRecord> out;
    while (out.size() < q.limit && st.step()) take_matching_records(st.text(0), q, out);
    if (!q.after_id) std::reverse(out.begin(), out.end());
    return out;
  }

  std::size_t prune_executions(std::int64_t older_than_ms) override {
    return in_transaction([&] {
      std::size_t removed = 0;
      {
        Statement count(db_, "SELECT COALESCE(SUM(id - first_id + 1), 0) FROM execution_pages WHERE max_started_ms < ?1");
        count.bind(1, older_than_ms);
        if (count.step()) removed = static_cast<std::size_t>(count.integer(0));
      }
      if (removed == 0) return removed;
      Statement functions(db_, R"sql(DELETE FROM execution_page_functions WHERE page_id IN
                                     (SELECT id FROM execution_pages WHERE max_started_ms < ?1))sql");
      functions.bind(1, older_than_ms);
      functions.step();
      Statement pages(db_, "DELETE FROM execution_pages WHERE max_started_ms < ?1");
      pages.bind(1, older_than_ms);
      pages.step();
      // Request keys are in time order: those from a day before the cutoff can only point at
      // pruned pages (a key that outlives its page finds nothing, and goes at a later prune).
      Statement keys(db_, "DELETE FROM execution_request_keys WHERE key < ?1");
      keys.bind(1, request_key_at(older_than_ms - 86'400'000));
      keys.step();
      return removed;
    });
  }

  std::int64_t store_deployment(std::int64_t account_id, const std::string& name, const std::string& message,
                                const std::string& archive, std::int64_t created_ms, const std::string& deploy_id) override {
    return in_transaction([&] {
      if (!deploy_id.empty()) {
        // An earlier attempt of this upload that stopped before its activation (and whose undo
        // failed too) gives way; a committed one never reaches here (committed_deploy answers).
        Statement st(db_, R"sql(DELETE FROM deployments WHERE account_id = ?1 AND deploy_id = ?2 AND committed = 0
                                AND NOT EXISTS (SELECT 1 FROM active_sources a WHERE a.account_id = ?1 AND a.version = deployments.version))sql");
        st.bind(1, account_id).bind(2, deploy_id);
        st.step();
      }
      std::int64_t version = 1;
      {
        Statement st(db_, "SELECT COALESCE(MAX(version), 0) + 1 FROM deployments WHERE account_id = ?1");
        st.bind(1, account_id);
        if (st.step()) version = st.integer(0);
      }
      Statement insert(db_, R"sql(INSERT INTO deployments (account_id, version, name, message, created_ms, archive, deploy_id, committed)
                                  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0))sql");
      insert.bind(1, account_id).bind(2, version).bind(3, name).bind(4, message).bind(5, created_ms).bind_blob(6, archive).bind(7, deploy_id);
      insert.step();
      return version;
    });
  }

  bool remove_inactive_deployment(std::int64_t account_id, std::int64_t version) override {
    Statement st(db_, R"sql(DELETE FROM deployments WHERE account_id = ?1 AND version = ?2
                            AND NOT EXISTS (SELECT 1 FROM active_sources a WHERE a.account_id = ?1 AND a.version = ?2))sql");
    st.bind(1, account_id).bind(2, version);
    st.step();
    return sqlite3_changes(db_) > 0;
  }

  std::vector<DeploymentRecord> remove_uncommitted_deployments(std::int64_t stored_before_ms) override {
    return in_transaction([&] {
      constexpr const char* kUncommitted = R"sql(committed = 0 AND created_ms < ?1 AND NOT EXISTS
          (SELECT 1 FROM active_sources a WHERE a.account_id = deployments.account_id AND a.version = deployments.version))sql";
      std::vector<DeploymentRecord> removed;
      {
        Statement st(db_, fmt::format("SELECT account_id, version, name, message, created_ms FROM deployments WHERE {} "
                                      "ORDER BY account_id, version", kUncommitted).c_str());
        st.bind(1, stored_before_ms);
        while (st.step()) removed.push_back({st.integer(0), st.integer(1), st.text(2), st.text(3), st.integer(4), false});
      }
      Statement st(db_, fmt::format("DELETE FROM deployments WHERE {}", kUncommitted).c_str());
      st.bind(1, stored_before_ms);
      st.step();
      return removed;
    });
  }

  std::vector<DeploymentRecord> deployments(std::int64_t account_id) override {
    Statement st(db_, R"sql(SELECT d.account_id, d.version, d.name, d.message, d.created_ms,
                                   EXISTS (SELECT 1 FROM active_sources a WHERE a.account_id = d.account_id AND a.version = d.version)
                            FROM deployments d WHERE d.account_id = ?1 ORDER BY d.version DESC)sql");
    st.bind(1, account_id);
    std::vector<DeploymentRecord> out;
    while (st.step()) out.push_back({st.integer(0), st.integer(1), st.text(2), st.text(3), st.integer(4), st.integer(5) != 0});
    return out;
  }

  std::optional<std::string> deployment_archive(std::int64_t account_id, std::int64_t version) override {
    Statement st(db_, "SELECT archive FROM deployments WHERE account_id = ?1 AND version = ?2");
    st.bind(1, account_id).bind(2, version);
    if (!st.step()) return std::nullopt;
    return st.text(0);
  }

  bool activate_deployment(std::int64_t account_id, std::int64_t version, const std::string& outcome) override {
    return in_transaction([&] {
      std::string name;
      {
        Statement st(db_, "SELECT name FROM deployments WHERE account_id = ?1 AND version = ?2");
        st.bind(1, account_id).bind(2, version);
        if (!st.step()) return false;  // nothing written: committing changes nothing
        name = st.text(0);
      }
      set_active(account_id, name, version);
      {
        Statement st(db_, "UPDATE deployments SET committed = 1 WHERE account_id = ?1 AND version = ?2");
        st.bind(1, account_id).bind(2, version);
        st.step();
      }
      if (!outcome.empty()) {
        Statement st(db_, "UPDATE deployments SET outcome = ?3 WHERE account_id = ?1 AND version = ?2");
        st.bind(1, account_id).bind(2, version).bind(3, outcome);
        st.step();
      }
      return true;
    });
  }

  std::optional<CommittedDeploy> committed_deploy(std::int64_t account_id, const std::string& deploy_id) override {
    if (deploy_id.empty()) return std::nullopt;
    Statement st(db_, R"sql(SELECT version, name, archive, outcome FROM deployments
                            WHERE account_id = ?1 AND deploy_id = ?2 AND outcome <> '')sql");
    st.bind(1, account_id).bind(2, deploy_id);
    if (!st.step()) return std::nullopt;
    return CommittedDeploy{st.integer(0), st.text(1), st.text(2), st.text(3)};
  }

  std::vector<ActiveSource> active_sources() override {
    Statement st(db_, "SELECT account_id, name, version, activated_seq FROM active_sources ORDER BY activated_seq");
    std::vector<ActiveSource> out;
    while (st.step()) out.push_back({st.integer(0), st.text(1), st.integer(2), st.integer(3)});
    return out;
  }

  void add_admin_token(const std::string& token_hash, std::int64_t account_id, std::int64_t created_ms) override {
    Statement st(db_, "INSERT INTO admin_tokens (token_hash, account_id, created_ms) VALUES (?1, ?2, ?3)");
    st.bind(1, token_hash).bind(2, account_id).bind(3, created_ms);
    st.step();
  }

  std::vector<AdminTokenRecord> admin_tokens() override {
    Statement st(db_, "SELECT token_hash, account_id, created_ms FROM admin_tokens ORDER BY created_ms, rowid");
    std::vector<AdminTokenRecord> out;
    while (st.step()) out.push_back({st.text(0), st.integer(1), st.integer(2)});
    return out;
  }

  bool remove_admin_token(const std::string& token_hash) override {
    Statement st(db_, "DELETE FROM admin_tokens WHERE token_hash = ?1");
    st.bind(1, token_hash);
    st.step();
    return sqlite3_changes(db_) > 0;
  }

  void enqueue_action(ActionExecutionRecord& e) override {
    Statement st(db_, R"sql(INSERT INTO action_executions (account_id, action, callback_id, event, state, attempts, retries,
                              created_ms, next_run_ms, first_failure_ms, finished_ms, result)
                            VALUES (?1, ?2, ?3, ?4, 'queued', 0, 0, ?5, ?6, 0, 0, ''))sql");
    st.bind(1, e.account_id).bind(2, e.action).bind(3, e.callback_id).bind(4, e.event_json).bind(5, e.created_ms).bind(6, e.next_run_ms);
    st.step();
    e.id = sqlite3_last_insert_rowid(db_);
    e.state = "queued";
  }

  std::vector<ActionExecutionRecord> claim_due_actions(std::int64_t now_ms, std::size_t limit, const ActionLease& lease) override {
    if (limit == 0) return {};
    return in_transaction([&] {
      std::vector<ActionExecutionRecord> claimed;
      {
        Statement st(db_, (std::string(kExecutionColumns) +
                           " WHERE state = 'queued' AND next_run_ms <= ?1 ORDER BY next_run_ms, id LIMIT ?2").c_str());
        st.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
        while (st.step()) claimed.push_back(read_execution(st));
      }
      Statement run(db_, R"sql(UPDATE action_executions SET state = 'running', attempts = attempts + 1, lease_owner = ?2,
                                 lease_expires_ms = ?3 WHERE id = ?1)sql");
      Statement attempt(db_, R"sql(INSERT INTO action_attempts (execution_id, number, started_ms, finished_ms, outcome, error,
                                     duration_ms, memory_mb, retry_delay_ms, lines)
                                   VALUES (?1, ?2, ?3, 0, 'RUNNING', '', 0, 0, 0, '[]'))sql");
      for (auto& e : claimed) {
        e.state = "running";
        e.attempts += 1;
        e.lease_owner = lease.owner;
        e.lease_expires_ms = lease.expires_ms;
        run.reset();
        run.bind(1, e.id).bind(2, lease.owner).bind(3, lease.expires_ms);
        run.step();
        attempt.reset();
        attempt.bind(1, e.id).bind(2, static_cast<std::int64_t>(e.attempts)).bind(3, now_ms);
        attempt.step();
      }
      return claimed;
    });
  }

  bool finish_action_attempt(const ActionExecutionRecord& e, const ActionAttemptRecord& a) override {
    return in_transaction([&] {
      Statement st(db_, R"sql(UPDATE action_executions SET state = ?2, next_run_ms = ?3, first_failure_ms = ?4, finished_ms = ?5,
                                result = ?6, retries = ?8, lease_owner = '', lease_expires_ms = 0
                              WHERE id = ?1 AND state = 'running' AND attempts = ?7)sql");
      st.bind(1, e.id).bind(2, e.state).bind(3, e.next_run_ms).bind(4, e.first_failure_ms).bind(5, e.finished_ms)
          .bind(6, e.result_json).bind(7, static_cast<std::int64_t>(a.number)).bind(8, static_cast<std::int64_t>(e.retries));
      st.step();
      if (sqlite3_changes(db_) == 0) return false;  // not the attempt running: leave everything as it is
      Statement at(db_, R"sql(UPDATE action_attempts SET finished_ms = ?3, outcome = ?4, error = ?5, duration_ms = ?6, memory_mb = ?7,
                                retry_delay_ms = ?8, lines = ?9 WHERE execution_id = ?1 AND number = ?2)sql");
      at.bind(1, e.id).bind(2, static_cast<std::int64_t>(a.number)).bind(3, a.finished_ms).bind(4, a.outcome).bind(5, a.error)
          .bind(6, a.duration_ms).bind(7, static_cast<std::int64_t>(a.memory_mb)).bind(8, a.retry_delay_ms).bind(9, encode_lines(a.lines));
      at.step();
      return true;
    });
  }

  std::size_t renew_action_leases(const ActionLease& lease) override {
    Statement st(db_, "UPDATE action_executions SET lease_expires_ms = ?2 WHERE state = 'running' AND lease_owner = ?1");
    st.bind(1, lease.owner).bind(2, lease.expires_ms);
    st.step();
    return static_cast<std::size_t>(sqlite3_changes(db_));
  }

  std::size_t requeue_interrupted_actions(const InterruptedActions& which) override {
    return in_transaction([&] {
      // The write transaction holds the whole database: nothing claims or renews in between,
      // so each statement picks the same executions (the give-up takes some out of the last).
      constexpr const char* kInterrupted = "SELECT id FROM action_executions WHERE state = 'running' AND lease_expires_ms < ?3";
      Statement at(db_, fmt::format(R"sql(UPDATE action_attempts SET outcome = 'INTERRUPTED', finished_ms = ?1, error = ?2
                                          WHERE outcome = 'RUNNING' AND execution_id IN ({}))sql", kInterrupted).c_str());
      at.bind(1, which.now_ms).bind(2, which.why).bind(3, which.lease_expired_before_ms);
      at.step();
      Statement give_up(db_, fmt::format(R"sql(UPDATE action_executions SET state = 'failed', finished_ms = ?1, result = ?2,
                                                 lease_owner = '', lease_expires_ms = 0
                                               WHERE id IN ({}) AND (SELECT COUNT(*) FROM action_attempts a
                                                 WHERE a.execution_id = action_executions.id AND a.outcome = 'INTERRUPTED') >= ?4)sql",
                                             kInterrupted).c_str());
      give_up.bind(1, which.now_ms).bind(2, which.give_up_result).bind(3, which.lease_expired_before_ms)
          .bind(4, static_cast<std::int64_t>(which.max_interruptions));
      give_up.step();
      Statement st(db_, R"sql(UPDATE action_executions SET state = 'queued', next_run_ms = ?1, lease_owner = '', lease_expires_ms = 0
                              WHERE state = 'running' AND lease_expires_ms < ?2)sql");
      st.bind(1, which.now_ms).bind(2, which.lease_expired_before_ms);
      st.step();
      return static_cast<std::size_t>(sqlite3_changes(db_));
    });
  }

  std::optional<std::int64_t> next_action_due_ms() override {
    Statement st(db_, "SELECT MIN(next_run_ms) FROM action_executions WHERE state = 'queued'");
    if (!st.step() || st.null(0)) return std::nullopt;
    return st.integer(0);
  }

  std::optional<ActionExecutionRecord> action_execution(std::int64_t id) override {
    std::optional<ActionExecutionRecord> found;
    {
      Statement st(db_, (std::string(kExecutionColumns) + " WHERE id = ?1").c_str());
      st.bind(1, id);
      if (!st.step()) return std::nullopt;
      found = read_execution(st);
    }
    Statement at(db_, R"sql(SELECT number, started_ms, finished_ms, outcome, error, duration_ms, memory_mb, retry_delay_ms, lines
                            FROM action_attempts WHERE execution_id = ?1 ORDER BY number)sql");
    at.bind(1, id);
    while (at.step()) {
      found->attempt_list.push_back({static_cast<int>(at.integer(0)), at.integer(1), at.integer(2), at.text(3), at.text(4), at.real(5),
                                     static_cast<int>(at.integer(6)), at.integer(7), decode_lines(at.text(8))});
    }
    return found;
  }

  std::vector<ActionExecutionRecord> find_action_executions(const ActionExecutionQuery& q) override {
    std::string sql = std::string(kExecutionColumns) + " WHERE 1 = 1";
    if (q.account_id) sql += " AND account_id = ?1";
    if (q.action) sql += " AND action = ?2";
    if (q.state) sql += " AND state = ?3";
    sql += " ORDER BY id DESC LIMIT ?4";
    Statement st(db_, sql.c_str());
    if (q.account_id) st.bind(1, *q.account_id);
    if (q.action) st.bind(2, *q.action);
    if (q.state) st.bind(3, *q.state);
    st.bind(4, static_cast<std::int64_t>(q.limit));
    std::vector<ActionExecutionRecord> out;
    while (st.step()) out.push_back(read_execution(st));
    return out;
  }

  std::size_t prune_action_executions(std::int64_t finished_before_ms) override {
    Statement st(db_, "DELETE FROM action_executions WHERE state IN ('succeeded', 'failed') AND finished_ms < ?1");
    st.bind(1, finished_before_ms);
    st.step();
    return static_cast<std::size_t>(sqlite3_changes(db_));
  }

  std::int64_t external_change_counter() override {
    Statement st(db_, "PRAGMA data_version");
    return st.step() ? st.integer(0) : 0;
  }

 private:
  void set_active(std::int64_t account_id, const std::string& name, std::int64_t version) {
    Statement st(db_, R"sql(INSERT INTO active_sources (account_id, name, version, activated_seq)
                            VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(activated_seq), 0) + 1 FROM active_sources))
                            ON CONFLICT (account_id, name) DO UPDATE SET version = ?3,
                              activated_seq = (SELECT COALESCE(MAX(activated_seq), 0) + 1 FROM active_sources))sql");
    st.bind(1, account_id).bind(2, name).bind(3, version);
    st.step();
  }

  // Stores `records` as one page, inside the caller's transaction; with `assign_ids` they get
  // the next ids in order (else they keep theirs: moving old rows).
  void write_page(std::vector<ExecutionRecord>& records, bool assign_ids) {
    if (records.empty()) return;
    if (assign_ids) {
      Statement next(db_, "SELECT next_id FROM execution_sequence");
      std::int64_t id = next.step() ? next.integer(0) : 1;
      for (auto& r : records) r.id = id++;
      Statement store_next(db_, "UPDATE execution_sequence SET next_id = ?1");
      store_next.bind(1, id);
      store_next.step();
    }
    const ExecutionPage page = make_page(records);
    Statement insert(db_, "INSERT INTO execution_pages (id, first_id, min_started_ms, max_started_ms, records) VALUES (?1, ?2, ?3, ?4, ?5)");
    insert.bind(1, page.id).bind(2, page.first_id).bind(3, page.min_started_ms).bind(4, page.max_started_ms).bind_unowned(5, page.records);
    insert.step();
    Statement function(db_, "INSERT OR IGNORE INTO execution_page_functions (name, account_id, page_id) VALUES (?1, ?2, ?3)");
    for (const auto& [name, account] : page.functions) {
      function.reset();
      function.bind_unowned(1, name).bind(2, account).bind(3, page.id);
      function.step();
    }
    if (!insert_request_key_) {
      insert_request_key_ = std::make_unique<Statement>(db_, "INSERT OR REPLACE INTO execution_request_keys (key, page_id) VALUES (?1, ?2)");
    }
    for (std::int64_t key : page.request_keys) {
      insert_request_key_->reset();
      insert_request_key_->bind(1, key).bind(2, page.id);
      insert_request_key_->step();
    }
    insert_request_key_->reset();
  }

  // Migration: the rows of the old executions table become pages (of 1,024), ids kept.
  void move_rows_into_pages() {
    Statement rows(db_, R"sql(SELECT id, request_id, account_id, function, method, path, http_status, status, execution_ms,
                                     queue_ms, memory_mb, cold_start, started_ms, error, lines FROM executions ORDER BY id)sql");
    std::vector<ExecutionRecord> batch;
    auto flush = [&] {
      write_page(batch, false);
      batch.clear();
    };
    while (rows.step()) {
      ExecutionRecord r;
      r.id = rows.integer(0);
      r.request_id = rows.text(1);
      r.account_id = rows.integer(2);
      r.function = rows.text(3);
      r.method = rows.text(4);
      r.path = rows.text(5);
      r.http_status = static_cast<int>(rows.integer(6));
      r.status = rows.text(7);
      r.execution_ms = rows.real(8);
      r.queue_ms = rows.real(9);
      r.memory_mb = static_cast<int>(rows.integer(10));
      r.cold_start = rows.integer(11) != 0;
      r.started_ms = rows.integer(12);
      r.error = rows.text(13);
      r.lines = decode_lines(rows.text(14));
      batch.push_back(std::move(r));
      if (batch.size() == 1024) flush();
    }
    flush();
  }

  // Runs `work` in one write transaction: committed when it returns, rolled back when it throws.
  template <class Work>
  std::invoke_result_t<Work&> in_transaction(Work work) {
    exec("BEGIN IMMEDIATE");
    try {
      if constexpr (std::is_void_v<decltype(work())>) {
        work();
        exec("COMMIT");
      } else {
        auto result = work();
        exec("COMMIT");
        return result;
      }
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  void exec(const char* sql) {
    char* error = nullptr;
    if (int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error); rc != SQLITE_OK) {
      std::string why = error ? error : "unknown error";
      sqlite3_free(error);
      throw sqlite_error(rc, fmt::format("sqlite: {}: {}", sql, why));
    }
  }

  // Turning a new file to WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY at once,
  // without the busy handler, when another connection (a second process opening the same new
  // file) holds a shared lock meanwhile. Retry until the busy timeout like the handler would.
  void switch_to_wal(std::chrono::milliseconds busy_timeout) {
    auto deadline = std::chrono::steady_clock::now() + busy_timeout;
    for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
      char* error = nullptr;
      int rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, &error);
      std::string why = error ? error : "unknown error";
      sqlite3_free(error);
      if (rc == SQLITE_OK) return;
      if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || std::chrono::steady_clock::now() >= deadline) {
        throw sqlite_error(rc, fmt::format("sqlite: PRAGMA journal_mode=WAL: {}", why));
      }
      std::this_thread::sleep_for(pause);
    }
  }

  void migrate() {
    exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    in_transaction([&] {
      std::int64_t version = 0;
      {
        Statement st(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
        if (st.step()) version = st.integer(0);
      }
      constexpr auto latest = static_cast<std::int64_t>(std::size(kMigrations));
      if (version > latest) {
        throw StoreError(fmt::format("the database has schema version {}, newer than this sprocket knows ({}); upgrade sprocket",
                                     version, latest));
      }
      for (auto v = version; v < latest; ++v) {
        exec(kMigrations[v]);
        if (v + 1 == kPagedExecutionsVersion) {
          move_rows_into_pages();
          exec("DROP TABLE executions");
        }
        Statement st(db_, "INSERT INTO schema_version (version) VALUES (?1)");
        st.bind(1, v + 1);
        st.step();
      }
    });
  }

  sqlite3* db_ = nullptr;
  std::unique_ptr<Statement> insert_request_key_;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::filesystem::path& file, std::chrono::milliseconds busy_timeout) {
  return std::make_unique<SqliteStore>(file, busy_timeout);
}

}  // namespace sprocket::store
