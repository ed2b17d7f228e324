#include "runtime/function_pool.h"

#include <algorithm>
#include <fmt/format.h>

namespace sprocket::runtime {
namespace {

constexpr double kFastMs = 10;  // a function whose executions average less is "fast"
// A pipelined invocation should wait about this long at most behind the ones ahead of it.
constexpr double kPipelineWaitMs = 1;
// Executions seen before the pipeline grows past 2: a burst that arrives before the function's
// speed is known must not pile up behind a slow first invocation.
constexpr int kSamplesBeforeDeepPipelines = 8;
// How many times one request may come back from instances that stopped before running it.
constexpr int kMaxRequeues = 50;

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

FunctionPool::FunctionPool(boost::asio::io_context& io, WorkerLauncher& launcher, WorkerRecipe recipe, PoolSettings settings,
                           MemoryCgroups* cgroups, SpareSource take_spare, StrayLogHandler stray_logs)
    : io_(io), launcher_(launcher), recipe_(std::move(recipe)), settings_(settings), cgroups_(cgroups), take_spare_(std::move(take_spare)),
      queue_deadline_(io), backoff_timer_(io),
      stray_logs_(std::move(stray_logs)) {}

FunctionPool::~FunctionPool() {
  *alive_ = false;
  shutdown();
}

void FunctionPool::submit(std::uint64_t invocation_id, std::string invoke_frame, Completion done) {
  auto now = std::chrono::steady_clock::now();
  auto frame = std::make_shared<const std::string>(std::move(invoke_frame));
  // A function that answers quickly is packed onto as few instances as its pipelines allow:
  // each wake-up of a worker then serves several requests, and two cores are not shared by a
  // crowd of processes. Slower functions get an instance per concurrent request, as on Lambda.
  if (auto worker = pipeline_target()) {
    std::erase(idle_, worker);
    run(worker, Waiting{std::move(frame), std::move(done), now, now, invocation_id}, false);
    return;
  }
  while (!idle_.empty()) {
    auto worker = std::move(idle_.back());
    idle_.pop_back();
    if (!worker->ready()) continue;  // being stopped (memory, a signal): its exit removes it
    run(worker, Waiting{std::move(frame), std::move(done), now, now, invocation_id}, false);
    return;
  }
  // Everyone waits for an instance when all are busy; past the bound, refuse at once.
  if (queue_.size() >= settings_.max_queued && instances() >= settings_.max_instances) {
    InvocationReport report;
    report.result.outcome = InvocationResult::Outcome::QueueFull;
    report.result.detail = fmt::format("{} requests are already waiting for one of this function's {} instances",
                                       queue_.size(), settings_.max_instances);
    done(std::move(report));
    return;
  }
  queue_.push_back(Waiting{std::move(frame), std::move(done), now, now, invocation_id});
  if (queue_.size() == 1) arm_queue_deadline();
  start_instances_for_queue();
}

std::size_t FunctionPool::pipeline_depth_now() const {
  // Deep for a function that answers in microseconds (one wake-up of its worker serves many
  // requests), shallow for one that takes milliseconds, none for a slow one.
  if (settings_.pipeline_depth <= 1 || typical_execution_ms_ > kFastMs) return 1;
  if (samples_ < kSamplesBeforeDeepPipelines) return std::min<std::size_t>(2, settings_.pipeline_depth);
  double fits = kPipelineWaitMs / std::max(typical_execution_ms_, 0.001);
  return std::clamp<std::size_t>(1 + static_cast<std::size_t>(fits), 2, settings_.pipeline_depth);
}

std::shared_ptr<Worker> FunctionPool::pipeline_target() const {
  // A pipelined request waits inside an instance, out of reach of the queue timeout, so only
  // functions that answer quickly are pipelined, and only behind an invocation that is young.
  std::size_t depth = pipeline_depth_now();
  if (depth <= 1 || !queue_.empty()) return nullptr;
  const double young_ms = std::clamp(2 * typical_execution_ms_, 0.2, kFastMs);
  auto now = std::chrono::steady_clock::now();
  std::shared_ptr<Worker> best;
  for (const auto& w : workers_) {
    if (!w->ready() || w->depth() >= depth) continue;
    // Only behind an invocation that is young for this function: one that runs long (a slow
    // call now and then) must not hold requests while other instances are idle.
    if (w->depth() > 0 && std::chrono::duration<double, std::milli>(now - w->running_since()).count() > young_ms) continue;
    if (!best || w->depth() > best->depth()) best = w;  // the fullest pipeline that has room
  }
  return best;
}

void FunctionPool::arm_queue_deadline() {
  if (queue_.empty()) return;
  std::weak_ptr<bool> alive = alive_;
  auto earliest = std::min_element(queue_.begin(), queue_.end(), [](const Waiting& a, const Waiting& b) {
    return a.waiting_since < b.waiting_since;
  });
  queue_deadline_.expires_at(earliest->waiting_since + settings_.queue_timeout);
  queue_deadline_.async_wait([this, alive](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    expire_waiting();
  });
}

void FunctionPool::expire_waiting() {
  auto now = std::chrono::steady_clock::now();
  // Requests that came back from a dead instance sit in front with a later deadline than some
  // behind them: look at every one (the queue is short, and this runs once per deadline).
  std::deque<Waiting> expired;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (now - it->waiting_since >= settings_.queue_timeout) {
      expired.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  arm_queue_deadline();
  std::string detail = fmt::format("no instance of the function became free within {} ms", settings_.queue_timeout.count());
  // Answering may release the last hold on this pool's generation: no member is touched from here.
  for (auto& waiting : expired) {
    InvocationReport report;
    report.result.outcome = InvocationResult::Outcome::QueueTimeout;
    report.result.detail = detail;
    report.queue_ms = ms_between(waiting.since, now);
    waiting.done(std::move(report));
  }
}

void FunctionPool::start_instances_for_queue() {
  // Start no more instances than there are requests waiting for one. A failure to start answers
  // the waiting requests, which may release the pool itself: check it is still there.
  std::weak_ptr<bool> alive = alive_;
  while (static_cast<std::size_t>(starting_) < queue_.size() && instances() < settings_.max_instances) {
    if (held_back_by_failures()) return;
    start_instance();
    if (alive.expired()) return;
  }
}

bool FunctionPool::held_back_by_failures() {
  auto now = std::chrono::steady_clock::now();
  if (backoff_.wait().count() == 0 || now >= backoff_.next_start()) return false;
  if (backoff_armed_) return true;
  backoff_armed_ = true;
  ++delayed_instance_starts();
  auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(backoff_.next_start() - now).count();
  fmt::print(stderr, "sprocket: {}: {} instances in a row ended in failure (the last: {}); its next instance starts in {} ms\n",
             settings_.name.empty() ? recipe_.image.code_folder.string() : settings_.name, backoff_.failures_in_a_row(), last_failure_,
             wait_ms);
  std::weak_ptr<bool> alive = alive_;
  backoff_timer_.expires_at(backoff_.next_start());
  backoff_timer_.async_wait([this, alive](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    backoff_armed_ = false;
    start_instances_for_queue();
  });
  return true;
}

void FunctionPool::count_outcome(const InvocationResult& result) {
  using Outcome = InvocationResult::Outcome;
  switch (result.outcome) {
    case Outcome::Answered:
    case Outcome::Threw:  // the instance lives on
      backoff_.succeeded();
      break;
    case Outcome::TimedOut:
    case Outcome::OutOfMemory:
    case Outcome::Crashed:
      backoff_.failed(std::chrono::steady_clock::now());
      last_failure_ = result.outcome == Outcome::TimedOut ? "timed out" : result.outcome == Outcome::OutOfMemory ? "out of memory" : "crashed";
      break;
    default:
      break;
  }
}

void FunctionPool::start_instance() {
  std::weak_ptr<bool> alive = alive_;
  auto holder = std::make_shared<std::weak_ptr<Worker>>();
  Worker::StartedHandler on_started = [this, alive, holder](std::optional<std::string> load_error) {
    if (alive.expired()) return;
    --starting_;
    auto self = holder->lock();
    if (load_error) {
      backoff_.failed(std::chrono::steady_clock::now());
      last_failure_ = "could not load the function";
      fail_queue(*load_error);
      return;
    }
    if (self) on_instance_free(self, true);
  };
  Worker::ExitHandler on_exit = [this, alive](Worker& exited) {
    if (alive.expired()) return;
    std::erase_if(workers_, [&](const auto& w) { return w.get() == &exited; });
    std::erase_if(idle_, [&](const auto& w) { return w.get() == &exited; });
    start_instances_for_queue();
  };
  Worker::LogHandler on_stray = [this, alive](std::vector<LogLine> lines) {
    if (!alive.expired() && stray_logs_) stray_logs_(std::move(lines));
  };
  // Spares have the network: an instance that may not use it starts on its own.
  std::shared_ptr<Worker> worker =
      take_spare_ && recipe_.image.network ? take_spare_(recipe_.memory_mb, recipe_.wants_preloaded) : nullptr;
  if (worker) {
    // A spare sees no function's folder until it is given one (in the sandbox, a mount).
    if (auto exposed = launcher_.expose(worker->process(), recipe_.image.code_folder); !exposed) {
      fmt::print(stderr, "sprocket: a spare worker could not be given {} ({}); starting a new instance instead\n",
                 recipe_.image.code_folder.string(), exposed.error());
      worker->terminate();
      worker = nullptr;
    }
  }
  if (worker) {
    worker->specialize(recipe_.load_frame, std::move(on_started), std::move(on_exit), std::move(on_stray), load_limit());
  } else {
    std::unique_ptr<WorkerCgroup> cgroup;
    if (cgroups_) {
      static std::uint64_t cgroups_made = 0;  // unique names across pools and generations
      cgroup = cgroups_->make_worker_cgroup(fmt::format("w{}", ++cgroups_made),
                                            static_cast<std::size_t>(settings_.memory_limit_mb) * 1024 * 1024);
      if (!cgroup) {
        fail_queue("could not create a memory cgroup for a new instance");
        return;
      }
    }
    try {
      worker = Worker::launch(io_, launcher_, recipe_.image, recipe_.load_frame, std::move(cgroup), settings_.memory_limit_mb,
                              std::move(on_started), std::move(on_exit), std::move(on_stray), load_limit());
    } catch (const std::exception& e) {
      fail_queue(fmt::format("could not start a worker process: {}", e.what()));
      return;
    }
  }
  *holder = worker;
  ++starting_;
  workers_.push_back(std::move(worker));
}

void FunctionPool::on_instance_free(const std::shared_ptr<Worker>& worker, bool cold) {
  if (!worker->ready()) return;
  // Queued requests go into a pipeline only for fast functions, as in submit().
  std::size_t depth = pipeline_depth_now();
  while (!queue_.empty() && worker->depth() < depth) {
    Waiting next = std::move(queue_.front());
    queue_.pop_front();
    if (queue_.empty()) queue_deadline_.cancel();
    run(worker, std::move(next), cold);
    cold = false;
  }
  if (worker->depth() == 0 && std::find(idle_.begin(), idle_.end(), worker) == idle_.end()) idle_.push_back(worker);
}

void FunctionPool::run(const std::shared_ptr<Worker>& worker, Waiting waiting, bool cold) {
  auto sent = std::chrono::steady_clock::now();
  std::weak_ptr<bool> alive = alive_;
  auto frame = waiting.frame;
  std::uint64_t id = waiting.id;
  worker->invoke(std::move(frame), id, settings_.time_limit,
                 [this, alive, worker, waiting = std::move(waiting), cold, sent](InvocationResult result) mutable {
                   // What a worker says about what it started could be forged (a function that
                   // claims "nothing was running" and dies, again and again): a request comes
                   // back a bounded number of times, within its queue timeout from arrival.
                   bool bounded = result.not_started_on_the_workers_word;
                   if (result.outcome == InvocationResult::Outcome::NotStarted &&
                       (!bounded || (waiting.requeues < kMaxRequeues &&
                                     std::chrono::steady_clock::now() - waiting.since < settings_.queue_timeout))) {
                     // Its instance died before reaching it: it goes back to the head of the line.
                     if (alive.expired()) return;
                     if (bounded) ++waiting.requeues;
                     // A fresh queue budget: otherwise every request that waited behind a slow
                     // invocation would expire the moment it came back.
                     waiting.waiting_since = std::chrono::steady_clock::now();
                     queue_.push_front(std::move(waiting));
                     arm_queue_deadline();
                     start_instances_for_queue();
                     return;
                   }
                   if (!alive.expired()) count_outcome(result);
                   typical_execution_ms_ = samples_ == 0 ? result.execution_ms : typical_execution_ms_ * 0.9 + result.execution_ms * 0.1;
                   if (samples_ < kSamplesBeforeDeepPipelines) ++samples_;
                   InvocationReport report;
                   report.queue_ms = ms_between(waiting.since, sent) + result.pipeline_wait_ms;
                   report.execution_ms = result.execution_ms;
                   report.result = std::move(result);
                   report.cold_start = cold;
                   waiting.done(std::move(report));
                   if (!alive.expired()) on_instance_free(worker, false);
                 });
}

void FunctionPool::fail_queue(const std::string& why) {
  // A function that fails to load fails the same way for everyone waiting; a later request
  // starts a fresh instance (the code may have been fixed meanwhile).
  auto waiting = std::move(queue_);
  queue_.clear();
  queue_deadline_.cancel();
  for (auto& w : waiting) {
    InvocationReport report;
    report.result.outcome = InvocationResult::Outcome::Crashed;
    report.result.detail = why;
    report.result.frame["loadError"] = true;
    report.queue_ms = ms_between(w.since, std::chrono::steady_clock::now());
    w.done(std::move(report));
  }
}

void FunctionPool::stop_idle(std::chrono::steady_clock::time_point now) {
  std::erase_if(idle_, [&](const std::shared_ptr<Worker>& worker) {
    if (now - worker->last_used() < settings_.idle_timeout) return false;
    worker->terminate();
    return true;  // out of the idle list at once: a request must not pick a dying instance
  });
}

void FunctionPool::update_environment(WorkerRecipe recipe, const std::string& frame) {
  recipe_ = std::move(recipe);
  for (auto& worker : workers_) worker->send_frame(frame);
}

void FunctionPool::enforce_rss_limits() {
  for (auto& worker : workers_) worker->enforce_rss_limit();
}

void FunctionPool::shutdown() {
  backoff_timer_.cancel();
  for (auto& worker : workers_) worker->terminate();
}

}  // namespace sprocket::runtime
