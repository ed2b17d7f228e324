#include "accounts/redis_budget.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <fmt/format.h>
#include <random>
#include <utility>

namespace sprocket::accounts {
namespace {

// ARGV: prefix, node, seq, now (the node's wall-clock second), node_ttl_ms, account count, then
// per account: id, second count, (second, execution µs, executions)…
// Returns: live nodes, 1 when the batch was applied (0: applied before), then per account 120
// integers: execution µs and executions of each second from now-59 to now.
// The batch's seq is recorded after its deltas are added, in the same atomic call, so a batch
// whose reply was lost is recognised when resent and adds nothing.
constexpr const char* kSyncScript = R"lua(
local prefix, node = ARGV[1], ARGV[2]
local seq, now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local accounts = tonumber(ARGV[6])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nodes = prefix .. 'nodes'
redis.call('ZADD', nodes, now_ms, node)
redis.call('ZREMRANGEBYSCORE', nodes, '-inf', now_ms - ttl)
redis.call('PEXPIRE', nodes, ttl * 2)
local live = redis.call('ZCARD', nodes)
local seq_key = prefix .. 'seq:' .. node
local apply = seq > tonumber(redis.call('GET', seq_key) or '0')
local out = {live, apply and 1 or 0}
local i = 7
for a = 1, accounts do
  local id, count = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  for d = 1, count do
    local second = tonumber(ARGV[i])
    if apply and second > now - 60 then
      local key = prefix .. id .. ':' .. ARGV[i]
      redis.call('HINCRBY', key, 'us', ARGV[i + 1])
      redis.call('HINCRBY', key, 'n', ARGV[i + 2])
      redis.call('EXPIRE', key, 120)
    end
    i = i + 3
  end
  for s = now - 59, now do
    local v = redis.call('HMGET', prefix .. id .. ':' .. s, 'us', 'n')
    out[#out + 1] = tonumber(v[1]) or 0
    out[#out + 1] = tonumber(v[2]) or 0
  end
end
if apply then redis.call('SET', seq_key, seq, 'EX', 300) end
return out
)lua";

std::mutex script_sha_mutex;
std::string script_sha;  // the same on every server: SCRIPT LOAD answers the script's SHA-1

std::string reply_text(const redisReply& r) { return std::string(r.str ? r.str : "", r.len); }

Expected<std::string, std::string> load_script(RedisConnection& connection) {
  auto reply = connection.command({"SCRIPT", "LOAD", kSyncScript});
  if (!reply) return Unexpected{reply.error()};
  if ((*reply)->type != REDIS_REPLY_STRING) return Unexpected{fmt::format("SCRIPT LOAD failed: {}", reply_text(**reply))};
  std::lock_guard lock(script_sha_mutex);
  script_sha = reply_text(**reply);
  return script_sha;
}

std::int64_t wall_second_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

BudgetLimits share_of(const BudgetLimits& limits, std::int64_t live_nodes) {
  std::int64_t nodes = std::max<std::int64_t>(1, live_nodes);
  BudgetLimits share{limits.execution_us / nodes, std::nullopt};
  if (limits.executions) share.executions = std::max<std::int64_t>(1, *limits.executions / nodes);
  return share;
}

std::string made_up_node_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device random;
  return fmt::format("{}:{}:{:08x}", host, ::getpid(), random());
}

}  // namespace

Expected<SyncResult, std::string> run_sync_script(RedisConnection& connection, const std::string& key_prefix,
                                                  const std::string& node, std::uint64_t seq, std::int64_t now,
                                                  std::chrono::milliseconds node_ttl, const std::vector<AccountDeltas>& batch) {
  std::vector<std::string> argv{"EVALSHA", "", "0", key_prefix, node, std::to_string(seq), std::to_string(now),
                                std::to_string(node_ttl.count()), std::to_string(batch.size())};
  for (const auto& account : batch) {
    argv.push_back(std::to_string(account.account_id));
    argv.push_back(std::to_string(account.seconds.size()));
    for (const auto& s : account.seconds) {
      argv.push_back(std::to_string(s.second));
      argv.push_back(std::to_string(s.execution_us));
      argv.push_back(std::to_string(s.executions));
    }
  }
  {
    std::lock_guard lock(script_sha_mutex);
    argv[1] = script_sha;
  }
  if (argv[1].empty()) {
    auto sha = load_script(connection);
    if (!sha) return Unexpected{sha.error()};
    argv[1] = *sha;
  }
  auto reply = connection.command(argv);
  if (!reply) return Unexpected{reply.error()};
  // A restarted server has forgotten its scripts.
  if ((*reply)->type == REDIS_REPLY_ERROR && reply_text(**reply).rfind("NOSCRIPT", 0) == 0) {
    auto sha = load_script(connection);
    if (!sha) return Unexpected{sha.error()};
    argv[1] = *sha;
    reply = connection.command(argv);
    if (!reply) return Unexpected{reply.error()};
  }
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_ERROR) return Unexpected{fmt::format("the budget's sync script failed: {}", reply_text(r))};
  std::size_t expected = 2 + batch.size() * 2 * RollingWindow::kSeconds;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != expected) {
    return Unexpected{fmt::format("the budget's sync script answered {} values, not {}", r.elements, expected)};
  }
  auto integer = [&](std::size_t i) { return r.element[i]->type == REDIS_REPLY_INTEGER ? r.element[i]->integer : 0; };
  SyncResult result;
  result.live_nodes = integer(0);
  result.applied = integer(1) == 1;
  std::size_t i = 2;
  for (std::size_t a = 0; a < batch.size(); ++a) {
    RollingWindow totals;
    for (std::int64_t s = now - RollingWindow::kSeconds + 1; s <= now; ++s, i += 2) {
      if (integer(i) != 0 || integer(i + 1) != 0) totals.add(s, integer(i), integer(i + 1));
    }
    result.totals.push_back(std::move(totals));
  }
  return result;
}

// An account's windows. The event loop holds `mutex` for a few hundred nanoseconds; the sync
// thread holds it only to move deltas out and totals in, never across I/O.
struct RedisBudgetBackend::State {
  std::int64_t id = 0;
  BudgetLimits limits;
  std::chrono::nanoseconds wall_offset{0};  // steady_clock → system_clock: windows are in wall seconds, as every node's
  std::shared_ptr<std::atomic<bool>> degraded;
  std::shared_ptr<std::atomic<std::int64_t>> live_nodes;

  mutable std::mutex mutex;
  RollingWindow own;       // everything this node counted: what it enforces alone when degraded
  RollingWindow unsynced;  // counted since the batch in flight was taken
  RollingWindow pending;   // in the batch in flight: in Redis only once its reply comes
  RollingWindow global;    // every node's, as the last sync returned it

  std::int64_t second_of(AccountBudget::Clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch() + wall_offset).count();
  }
  // Under `mutex`. The totals are summed window by window, without merging them: a merged
  // window is needed only for a refusal's Retry-After.
  BudgetLimits limits_now() const {
    return degraded->load(std::memory_order_relaxed) ? share_of(limits, live_nodes->load(std::memory_order_relaxed)) : limits;
  }
  SecondUsage totals(std::int64_t current) const {
    if (degraded->load(std::memory_order_relaxed)) return own.totals(current);
    SecondUsage sum = global.totals(current);
    for (const RollingWindow* w : {&pending, &unsynced}) {
      SecondUsage part = w->totals(current);
      sum.execution_us += part.execution_us;
      sum.executions += part.executions;
    }
    return sum;
  }
  RollingWindow merged(std::int64_t current) const {
    if (degraded->load(std::memory_order_relaxed)) return own;
    RollingWindow used = global;
    used.add(pending, current);
    used.add(unsynced, current);
    return used;
  }
};

namespace {
class RedisAccountBudget final : public AccountBudget {
 public:
  explicit RedisAccountBudget(std::shared_ptr<RedisBudgetBackend::State> state) : state_(std::move(state)) {}

  Admission check(Clock::time_point now) const override {
    std::lock_guard lock(state_->mutex);
    std::int64_t current = state_->second_of(now);
    BudgetLimits limits = state_->limits_now();
    if (within(state_->totals(current), limits)) return {};
    return decide(state_->merged(current), current, limits);
  }
  void count_execution(Clock::time_point now) override { add(now, 0, 1); }
  void charge(Clock::time_point finished, std::chrono::microseconds execution_time) override {
    add(finished, execution_time.count(), 0);
  }
  std::int64_t time_remaining_ms(Clock::time_point now) const override {
    std::lock_guard lock(state_->mutex);
    return accounts::time_remaining_ms(state_->totals(state_->second_of(now)), state_->limits_now());
  }
  std::int64_t executions_remaining(Clock::time_point now, std::chrono::milliseconds longest_execution) const override {
    std::lock_guard lock(state_->mutex);
    return accounts::executions_remaining(state_->totals(state_->second_of(now)), state_->limits_now(), longest_execution);
  }

 private:
  void add(Clock::time_point t, std::int64_t execution_us, std::int64_t executions) {
    std::lock_guard lock(state_->mutex);
    std::int64_t second = state_->second_of(t);
    state_->own.add(second, execution_us, executions);
    state_->unsynced.add(second, execution_us, executions);
  }
  std::shared_ptr<RedisBudgetBackend::State> state_;
};
}  // namespace

RedisBudgetBackend::RedisBudgetBackend(RedisBudgetSettings settings)
    : settings_(std::move(settings)),
      degraded_(std::make_shared<std::atomic<bool>>(true)),
      live_nodes_(std::make_shared<std::atomic<std::int64_t>>(1)),
      reason_("it has not been reached yet") {
  if (settings_.node_id.empty()) settings_.node_id = made_up_node_id();
}

RedisBudgetBackend::~RedisBudgetBackend() { stop(); }

std::unique_ptr<AccountBudget> RedisBudgetBackend::budget_for(std::int64_t account_id, const AccountLimits& limits) {
  auto state = std::make_shared<State>();
  state->id = account_id;
  state->limits = budget_limits(limits);
  state->wall_offset = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()) -
                       std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch());
  state->degraded = degraded_;
  state->live_nodes = live_nodes_;
  accounts_.push_back(state);
  return std::make_unique<RedisAccountBudget>(std::move(state));
}

void RedisBudgetBackend::start() {
  sync_now();  // says so in the log when Redis does not answer
  thread_ = std::thread([this] { run(); });
}

void RedisBudgetBackend::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

BudgetHealth RedisBudgetBackend::health() const {
  BudgetHealth h;
  h.backend = "redis";
  h.degraded = degraded_->load();
  if (h.degraded) {
    std::lock_guard lock(reason_mutex_);
    h.reason = reason_;
  }
  h.live_nodes = live_nodes_->load();
  h.syncs = syncs_.load();
  h.sync_errors = sync_errors_.load();
  return h;
}

bool RedisBudgetBackend::sync_now() {
  std::lock_guard lock(sync_mutex_);
  return sync_locked();
}

bool RedisBudgetBackend::sync_locked() {
  if (!connection_) {
    auto opened = RedisConnection::open(settings_.where, settings_.timeout);
    if (!opened) {
      failed(opened.error());
      return false;
    }
    connection_.emplace(std::move(*opened));
  }
  std::int64_t now = wall_second_now();
  if (!batch_in_flight_) {
    // A new batch: what was counted since the last one moves to `pending` until Redis has it.
    ++seq_;
    batch_.clear();
    for (const auto& account : accounts_) {
      std::lock_guard lock(account->mutex);
      AccountDeltas deltas{account->id, account->unsynced.take(now)};
      for (const auto& s : deltas.seconds) account->pending.add(s.second, s.execution_us, s.executions);
      batch_.push_back(std::move(deltas));
    }
    batch_in_flight_ = true;
  }
  auto result = run_sync_script(*connection_, settings_.key_prefix, settings_.node_id, seq_, now, settings_.node_ttl, batch_);
  if (!result) {
    // The batch may or may not have been applied: it is resent with the same seq, which the
    // script applies at most once.
    connection_.reset();
    failed(result.error());
    return false;
  }
  for (std::size_t i = 0; i < accounts_.size(); ++i) {
    std::lock_guard lock(accounts_[i]->mutex);
    accounts_[i]->global = std::move(result->totals[i]);
    accounts_[i]->pending.clear();
  }
  batch_in_flight_ = false;
  live_nodes_->store(std::max<std::int64_t>(1, result->live_nodes));
  syncs_.fetch_add(1);
  degraded_->store(false);
  if (std::exchange(warned_, false) && settings_.log) {
    settings_.log(fmt::format("sprocket: the shared execution budget at {} is reachable again: budgets are global again ({} live node{})",
                              settings_.where.display(), result->live_nodes, result->live_nodes == 1 ? "" : "s"));
  }
  return true;
}

void RedisBudgetBackend::failed(const std::string& why) {
  sync_errors_.fetch_add(1);
  {
    std::lock_guard lock(reason_mutex_);
    reason_ = why;
  }
  degraded_->store(true);
  if (!std::exchange(warned_, true) && settings_.log) {
    std::int64_t live = live_nodes_->load();
    settings_.log(fmt::format("sprocket: WARNING: the shared execution budget at {} cannot be reached ({}); until it can, this node "
                              "enforces 1/{} of each account's budget ({} live node{} when it last could) and retries with backoff",
                              settings_.where.display(), why, live, live, live == 1 ? "" : "s"));
  }
}

void RedisBudgetBackend::wait_for(std::chrono::milliseconds delay) {
  std::unique_lock lock(wake_mutex_);
  wake_.wait_for(lock, delay, [this] { return stopping_; });
}

void RedisBudgetBackend::run() {
  constexpr std::chrono::milliseconds kFirstBackoff{100};
  auto backoff = kFirstBackoff;
  for (;;) {
    {
      std::lock_guard lock(wake_mutex_);
      if (stopping_) return;
    }
    bool synced = sync_now();
    if (synced) {
      backoff = kFirstBackoff;
      wait_for(settings_.sync_interval);
    } else {
      wait_for(backoff);
      backoff = std::min(backoff * 2, settings_.max_backoff);
    }
  }
}

}  // namespace sprocket::accounts
