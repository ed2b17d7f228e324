#pragma once
// Durable state behind one interface: secrets (encrypted by the caller) and execution logs.
// Calls block (sqlite3, libpq): run them on the StoreExecutor's thread, never on the event loop.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sprocket::store {

struct StoreError : std::runtime_error {
  explicit StoreError(const std::string& what, bool transient = false) : std::runtime_error(what), transient(transient) {}
  bool transient;  // the same call may succeed later: the database was locked by another connection, or full
};

struct SecretRecord {
  std::int64_t account_id = 0;
  std::string name;
  std::string nonce;       // binary
  std::string ciphertext;  // binary: libsodium secretbox of the value
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

struct LogLineRecord {
  std::int64_t timestamp_ms = 0;
  std::string level;
  std::string text;
};

struct ExecutionRecord {
  std::int64_t id = 0;  // assigned by the store
  std::string request_id;
  std::int64_t account_id = 0;
  std::string function;  // endpoint name, project path, or app function name
  std::string method;
  std::string path;
  int http_status = 0;
  std::string status;  // SUCCESS | ERROR
  double execution_ms = 0;
  double queue_ms = 0;
  int memory_mb = 0;
  bool cold_start = false;
  std::int64_t started_ms = 0;
  std::string error;  // why it failed, when it did
  std::vector<LogLineRecord> lines;
};

struct ExecutionQuery {
  std::optional<std::int64_t> account_id;
  std::optional<std::string> function;  // matches function or path
  std::optional<std::string> request_id;
  std::optional<std::int64_t> since_ms;
  std::optional<std::int64_t> after_id;  // follow: only records stored after this one
  std::size_t limit = 100;               // newest first when not following
};

struct DeploymentRecord {
  std::int64_t account_id = 0;
  std::int64_t version = 0;   // per account, from 1
  std::string name;           // project or folder name: a later version of a name replaces it
  std::string message;
  std::int64_t created_ms = 0;
  bool active = false;
};

// A deploy that was committed (made active) under a client's deploy id: what answered it.
struct CommittedDeploy {
  std::int64_t version = 0;
  std::string name;
  std::string archive;
  std::string outcome;  // the JSON answer, as the deployer was (or should have been) told
};

struct ActiveSource {
  std::int64_t account_id = 0;
  std::string name;
  std::int64_t version = 0;
  std::int64_t activated_seq = 0;  // activation order across all accounts
};

// One attempt at running a queued workflow action.
struct ActionAttemptRecord {
  int number = 0;  // from 1
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;  // 0 while running
  std::string outcome;           // RUNNING | SUCCEEDED | FAILED | RETRY | INTERRUPTED
  std::string error;             // why it failed, when it did
  double duration_ms = 0;
  int memory_mb = 0;
  std::int64_t retry_delay_ms = 0;  // RETRY: the schedule's delay before the next attempt (unscaled)
  std::vector<LogLineRecord> lines;
};

// A workflow action's execution: queued, running, then succeeded or failed for good.
struct ActionExecutionRecord {
  std::int64_t id = 0;  // assigned by the store
  std::int64_t account_id = 0;
  std::string action;
  std::string callback_id;
  std::string event_json;
  std::string state;  // queued | running | succeeded | failed
  int attempts = 0;   // started so far
  int retries = 0;    // retries scheduled so far (the schedule's position; interruptions do not count)
  std::int64_t created_ms = 0;
  std::int64_t next_run_ms = 0;       // queued: due from then
  std::int64_t first_failure_ms = 0;  // the retry window (3 days) runs from the first retryable failure
  std::int64_t finished_ms = 0;
  std::string result_json;  // final states: outputs, failure, problems, warnings
  std::string lease_owner;        // running: the node running it (ActionLease::owner)
  std::int64_t lease_expires_ms = 0;  // running: when other nodes may take it back unless renewed
  std::vector<ActionAttemptRecord> attempt_list;  // filled by action_execution() only
};

// A node's hold on the executions it runs: claimed under it, renewed while they run. An
// execution whose lease expired belongs to a node that died (or lost the store for longer than
// a lease), and any node may queue it again.
struct ActionLease {
  std::string owner;           // the node's id, unique per process
  std::int64_t expires_ms = 0;  // unix ms
};

// Which running executions requeue_interrupted_actions() takes back.
struct InterruptedActions {
  std::int64_t now_ms = 0;  // they are due again from then
  // Only those whose lease ends before this: `now_ms` where other nodes may be running theirs,
  // or INT64_MAX at the start of the only node there is (every execution running is dead).
  std::int64_t lease_expired_before_ms = 0;
  std::string why;  // the interrupted attempt's error
  // An execution interrupted this many times fails with `give_up_result` instead (one that
  // takes the server down would otherwise do so at every start).
  int max_interruptions = 3;
  std::string give_up_result;
};

struct ActionExecutionQuery {
  std::optional<std::int64_t> account_id;
  std::optional<std::string> action;
  std::optional<std::string> state;
  std::size_t limit = 100;  // newest first
};

// An admin token scoped to one account: its hash, never the token.
struct AdminTokenRecord {
  std::string token_hash;
  std::int64_t account_id = 0;
  std::int64_t created_ms = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual void put_secret(const SecretRecord& secret) = 0;  // insert or update
  virtual bool delete_secret(std::int64_t account_id, const std::string& name) = 0;
  virtual std::vector<SecretRecord> secrets() = 0;

  virtual void append_executions(std::vector<ExecutionRecord>& records) = 0;  // one transaction; sets ids, increasing
  // Matching executions with their lines: oldest first when `after_id` is set, else the newest
  // `limit`, returned oldest first.
  virtual std::vector<ExecutionRecord> find_executions(const ExecutionQuery& query) = 0;
  // Removes executions started before `older_than_ms` (SQLite: whole pages, so a few may stay
  // until their page's newest is old too); returns how many.
  virtual std::size_t prune_executions(std::int64_t older_than_ms) = 0;

  // Stores a deployment as the account's next version, not active: activate_deployment() makes
  // it so once its files are in place and load, so that the store never names as active a
  // version the node could not serve (a restart serves what the store says).
  // `deploy_id`, when not empty, is the client's id for this upload (a retry sends it again); a
  // version stored under it earlier that never became active is replaced.
  virtual std::int64_t store_deployment(std::int64_t account_id, const std::string& name, const std::string& message,
                                        const std::string& archive, std::int64_t created_ms, const std::string& deploy_id = "") = 0;
  // Undoes store_deployment() for a version that never became active; false if it is unknown or active.
  virtual bool remove_inactive_deployment(std::int64_t account_id, std::int64_t version) = 0;
  // Removes, and returns, the versions stored before `stored_before_ms` that a deploy never
  // committed: it was cut off (kill -9, a power cut) between storing and activating, so nobody
  // was told it succeeded, yet the row would be listed as a version and could be rolled back
  // to. For the start-up: a deploy in progress has such a version too, so the only node passes
  // INT64_MAX, and a node sharing the store only what is older than any deploy takes.
  virtual std::vector<DeploymentRecord> remove_uncommitted_deployments(std::int64_t stored_before_ms) = 0;
  virtual std::vector<DeploymentRecord> deployments(std::int64_t account_id) = 0;  // newest first
  virtual std::optional<std::string> deployment_archive(std::int64_t account_id, std::int64_t version) = 0;
  // Makes `version` the active version of its name (a deploy, a rollback), and marks it
  // committed; false if unknown. A deploy's `outcome` (its JSON answer) is kept with it in the same transaction: a retry of
  // the same upload is answered with it (committed_deploy).
  virtual bool activate_deployment(std::int64_t account_id, std::int64_t version, const std::string& outcome = "") = 0;
  // The deploy committed under `deploy_id`, if there is one.
  virtual std::optional<CommittedDeploy> committed_deploy(std::int64_t account_id, const std::string& deploy_id) = 0;
  virtual std::vector<ActiveSource> active_sources() = 0;  // oldest activation first

  // Admin tokens scoped to one account, kept as hashes (the token itself is shown once).
  virtual void add_admin_token(const std::string& token_hash, std::int64_t account_id, std::int64_t created_ms) = 0;
  virtual std::vector<AdminTokenRecord> admin_tokens() = 0;  // oldest first
  virtual bool remove_admin_token(const std::string& token_hash) = 0;  // false if there was none

  // Workflow action executions, a durable queue: an execution is stored before it is accepted,
  // claimed (marked running under a node's lease, its attempt recorded) in the same
  // transaction that selects it, and finished in one transaction. A crash leaves it running
  // until its lease expires; requeue_interrupted_actions() then puts it back in the queue.
  virtual void enqueue_action(ActionExecutionRecord& execution) = 0;  // sets id
  // Up to `limit` queued executions due at `now_ms`, oldest due first, now running under
  // `lease` (their `attempts` counts the new attempt). Nodes claiming at once never get the same one.
  virtual std::vector<ActionExecutionRecord> claim_due_actions(std::int64_t now_ms, std::size_t limit, const ActionLease& lease) = 0;
  // Moves the expiry of every running execution `lease.owner` holds to `lease.expires_ms`;
  // returns how many. One taken back meanwhile (its lease had expired) stays taken.
  virtual std::size_t renew_action_leases(const ActionLease& lease) = 0;
  // Ends attempt `attempt.number`; the execution becomes `execution.state` (queued again with
  // its next_run_ms, or final). Ignored unless that attempt is the one running.
  virtual bool finish_action_attempt(const ActionExecutionRecord& execution, const ActionAttemptRecord& attempt) = 0;
  // Executions left running by a node that died run again (at-least-once), unless that already
  // happened `max_interruptions` times. Returns how many were queued again.
  virtual std::size_t requeue_interrupted_actions(const InterruptedActions& which) = 0;
  virtual std::optional<std::int64_t> next_action_due_ms() = 0;
  virtual std::optional<ActionExecutionRecord> action_execution(std::int64_t id) = 0;  // with its attempts
  virtual std::vector<ActionExecutionRecord> find_action_executions(const ActionExecutionQuery& query) = 0;
  // Finished executions older than this go, with their attempts.
  virtual std::size_t prune_action_executions(std::int64_t finished_before_ms) = 0;

  // Changes whenever what nodes keep in memory may have changed: SQLite counts every commit of
  // another connection; PostgreSQL counts changes to secrets, admin tokens and active versions,
  // this node's own included. Cheap to poll.
  virtual std::int64_t external_change_counter() = 0;
};

// The embedded default: an SQLite database in WAL mode, migrated to the current schema. A call
// that finds the database locked by another connection waits up to `busy_timeout` for it.
inline constexpr std::chrono::milliseconds kDefaultBusyTimeout{5000};
std::unique_ptr<Store> open_sqlite_store(const std::filesystem::path& file, std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout);

// Shared state for several nodes: a PostgreSQL database named by a libpq connection URI (no
// password in it: libpq reads PGPASSFILE or ~/.pgpass), migrated to the current schema. A
// connection that breaks is made again at the next call; the call that found it broken throws
// a transient StoreError.
std::unique_ptr<Store> open_postgres_store(const std::string& uri);

}  // namespace sprocket::store
