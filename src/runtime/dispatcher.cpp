#include "runtime/dispatcher.h"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace sprocket::runtime {
namespace json = boost::json;

namespace {

// What every Node worker is; a function's own variables and secrets arrive in its load frame,
// so that a pre-started generic worker can become any function's instance.
WorkerImage node_image(int memory_limit_mb, const std::filesystem::path& folder) {
  WorkerImage image;
  image.memory_limit_mb = memory_limit_mb;
  image.code_folder = folder;
  return image;
}

}  // namespace

ExposedSecrets select_secrets(const std::vector<std::string>& names, const secrets::AccountSecrets* managed,
                              const std::map<std::string, std::string>* dotenv) {
  ExposedSecrets exposed;
  for (const auto& name : names) {
    if (managed) {
      if (auto it = managed->find(name); it != managed->end()) {
        exposed.emplace_back(name, it->second);
        continue;
      }
    }
    if (dotenv) {
      if (auto it = dotenv->find(name); it != dotenv->end()) exposed.emplace_back(name, it->second);
    }
  }
  return exposed;
}

std::string environment_change_frame(const ExposedSecrets& before, const ExposedSecrets& now) {
  // Set what is new or changed, remove what is gone.
  json::object set;
  json::array names;
  for (const auto& [name, value] : now) {
    set[name] = value;
    names.emplace_back(name);
  }
  json::array removed;
  for (const auto& [name, value] : before) {
    bool still = std::any_of(now.begin(), now.end(), [&](const auto& p) { return p.first == name; });
    if (!still) removed.emplace_back(name);
  }
  std::string frame;
  append_frame(frame, json::serialize(json::object{{"type", "env"}, {"set", set}, {"remove", removed}, {"secretNames", names}}));
  return frame;
}

WorkerRecipe node_worker_recipe(const config::FunctionSpec& spec, const RuntimeSettings& settings,
                                const accounts::AccountLimits& limits, const ExposedSecrets& secrets) {
  WorkerRecipe recipe;
  recipe.image = node_image(limits.memory_mb, spec.folder);
  recipe.image.network = limits.network;
  recipe.memory_mb = limits.memory_mb;
  recipe.wants_preloaded = spec.uses_preloaded_packages;
  json::object env;
  for (const auto& [name, value] : spec.environment) env[name] = value;
  json::array exposed;
  for (const auto& [name, value] : secrets) {
    env[name] = value;  // through the socket, never argv: argv is world-readable
    exposed.emplace_back(name);
  }
  json::object load{{"type", "load"},
                    {"file", settings.launcher->worker_path(spec.folder, spec.file).string()},
                    {"name", spec.name},
                    {"cwd", settings.launcher->worker_path(spec.folder, spec.folder).string()},
                    {"env", env},
                    {"secretNames", exposed},
                    {"logLimitBytes", limits.log_bytes_per_execution},
                    {"memoryLimitMb", limits.memory_mb}};
  recipe.load_frame.clear();
  append_frame(recipe.load_frame, json::serialize(load));
  return recipe;
}

Dispatcher::Dispatcher(boost::asio::io_context& io, RuntimeSettings settings, const accounts::Deployment& deployment,
                       const config::Catalog& catalog, StrayLogHandler stray_logs)
    : io_(io), settings_(std::move(settings)), deployment_(deployment), catalog_(catalog), stray_logs_(std::move(stray_logs)),
      idle_sweep_(io),
      rss_poll_(io) {
  pools_.resize(catalog_.functions.size());
  exposed_.resize(catalog_.functions.size());
  schedule_idle_sweep();
  if (!settings_.cgroups) schedule_rss_poll();
  if (!deployment_.accounts.empty()) spare_memory_mb_ = deployment_.accounts.front().limits.memory_mb;
  fill_spares();
}

void Dispatcher::fill_spares() {
  // Generic workers started ahead of need: a cold start then costs a load frame and the
  // function's own module, not a Node start (~50 ms) — nor, for code that uses them, requiring
  // axios and lodash (~55 ms more). Functions that do not use them get the plain spare, which
  // stays small.
  if (!settings_.spare_workers || shut_down_) return;
  for (int kind = 0; kind < 2; ++kind) {
    Spare& spare = spares_[kind];
    if (spare.worker || spare.starting) continue;
    auto image = node_image(spare_memory_mb_, {});
    if (kind == 1) image.extra_env.push_back("SPROCKET_PRELOAD=axios,lodash");
    std::unique_ptr<WorkerCgroup> cgroup;
    if (settings_.cgroups) {
      static std::uint64_t spares_made = 0;
      cgroup = settings_.cgroups->make_worker_cgroup(fmt::format("spare{}", ++spares_made),
                                                     static_cast<std::size_t>(spare_memory_mb_) * 1024 * 1024);
      if (!cgroup) return;
    }
    auto holder = std::make_shared<std::weak_ptr<Worker>>();
    std::weak_ptr<bool> alive = alive_;
    std::shared_ptr<Worker> worker;
    try {
      worker = Worker::launch(
          io_, *settings_.launcher, image, "", std::move(cgroup), spare_memory_mb_,
          [this, alive, holder, kind](std::optional<std::string> error) {
            if (alive.expired()) {
              // Its generation is gone: nobody will take it.
              if (auto w = holder->lock()) w->terminate();
              return;
            }
            spares_[kind].starting = false;
            if (auto w = holder->lock(); w && !error) spares_[kind].worker = w;
          },
          [this, alive, kind](Worker& exited) {
            if (alive.expired()) return;
            if (spares_[kind].worker.get() == &exited) spares_[kind].worker.reset();
          },
          nullptr);
    } catch (const std::exception&) {
      return;  // the pools start their own workers; spares are an optimisation
    }
    *holder = worker;
    spare.starting = true;
  }
}

std::shared_ptr<Worker> Dispatcher::take_spare(int memory_mb, bool preloaded) {
  if (memory_mb != spare_memory_mb_) return nullptr;
  Spare& spare = spares_[preloaded ? 1 : 0];
  if (!spare.worker || !spare.worker->generic()) return nullptr;
  auto worker = std::move(spare.worker);
  spare.worker.reset();
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) fill_spares();
  });
  return worker;
}


const accounts::AccountLimits& Dispatcher::limits_of(std::size_t function_index) const {
  return deployment_.accounts[catalog_.functions[function_index].account_index].limits;
}

std::string Dispatcher::memory_enforcement() const {
  if (settings_.cgroups) return "memory limits enforced by the kernel: " + settings_.cgroups->describe();
  return "memory limits enforced by polling each worker's RSS every 100 ms (" + settings_.no_cgroups_reason + ")";
}

void Dispatcher::schedule_rss_poll() {
  rss_poll_.expires_after(std::chrono::milliseconds(100));
  rss_poll_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    for (auto& pool : pools_) {
      if (pool) pool->enforce_rss_limits();
    }
    schedule_rss_poll();
  });
}

Dispatcher::~Dispatcher() {
  *alive_ = false;
  shutdown();
}

std::chrono::milliseconds Dispatcher::time_limit(std::size_t function_index) const {
  const auto& limits = limits_of(function_index);
  return catalog_.functions[function_index].format == config::FunctionFormat::DesignManager
             ? limits.design_manager_time_limit
             : limits.project_time_limit;
}

void Dispatcher::invoke(std::size_t function_index, std::uint64_t invocation_id, std::string invoke_frame, FunctionPool::Completion done) {
  auto& pool = pools_[function_index];
  if (!pool) {
    const auto& catalog = catalog_;
    const auto& spec = catalog.functions[function_index];
    const auto& limits = limits_of(function_index);
    PoolSettings pool_settings{limits.max_instances_per_function, time_limit(function_index), settings_.idle_timeout,
                               limits.memory_mb, limits.max_queued_per_function, limits.queue_timeout, limits.pipeline_depth,
                               spec.name};
    pool = std::make_unique<FunctionPool>(
        io_, *settings_.launcher, node_worker_recipe(spec, settings_, limits, exposed_secrets(function_index)),
        pool_settings, settings_.cgroups.get(), [this](int memory_mb, bool preloaded) { return take_spare(memory_mb, preloaded); },
        [this, function_index](std::vector<LogLine> lines) {
          if (stray_logs_) stray_logs_(function_index, std::move(lines));
        });
  }
  pool->submit(invocation_id, std::move(invoke_frame), std::move(done));
}

ExposedSecrets Dispatcher::compute_exposed(std::size_t function_index) const {
  const auto& spec = catalog_.functions[function_index];
  std::vector<std::string> names = spec.secrets;
  if (spec.format == config::FunctionFormat::Project) names.push_back("PRIVATE_APP_ACCESS_TOKEN");
  const auto dotenv = catalog_.dotenv_by_folder.find(spec.folder);
  const auto managed = store_secrets_.find(deployment_.accounts[spec.account_index].id);
  return select_secrets(names, managed == store_secrets_.end() ? nullptr : &managed->second,
                        dotenv == catalog_.dotenv_by_folder.end() ? nullptr : &dotenv->second);
}

const ExposedSecrets& Dispatcher::exposed_secrets(std::size_t function_index) {
  auto& cached = exposed_[function_index];
  if (!cached) cached = compute_exposed(function_index);
  return *cached;
}

void Dispatcher::set_secrets(secrets::SecretValues values) {
  store_secrets_ = std::move(values);
  for (std::size_t i = 0; i < exposed_.size(); ++i) {
    if (!exposed_[i]) continue;
    ExposedSecrets now = compute_exposed(i);
    if (now == *exposed_[i]) continue;
    std::string frame = environment_change_frame(*exposed_[i], now);
    exposed_[i] = std::move(now);
    if (auto& pool = pools_[i]) {
      pool->update_environment(node_worker_recipe(catalog_.functions[i], settings_, limits_of(i), *exposed_[i]), frame);
    }
  }
}

void Dispatcher::schedule_idle_sweep() {
  auto interval = std::clamp(settings_.idle_timeout / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(10'000));
  idle_sweep_.expires_after(interval);
  idle_sweep_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    // A completion already queued still runs after cancel(): check the dispatcher is alive.
    if (ec || alive.expired()) return;
    auto now = std::chrono::steady_clock::now();
    for (auto& pool : pools_) {
      if (pool) pool->stop_idle(now);
    }
    schedule_idle_sweep();
  });
}

void Dispatcher::shutdown() {
  shut_down_ = true;
  idle_sweep_.cancel();
  rss_poll_.cancel();
  for (auto& spare : spares_) {
    if (spare.worker) spare.worker->terminate();
  }
  for (auto& pool : pools_) {
    if (pool) pool->shutdown();
  }
}

int Dispatcher::instances() const {
  int total = 0;
  for (const auto& pool : pools_) {
    if (pool) total += pool->instances();
  }
  return total;
}

}  // namespace sprocket::runtime
