#include "deploy/deploy_service.h"

#include <sodium.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <climits>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <future>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "deploy/archive.h"
#include "logs/log_format.h"
#include "runtime/dependencies.h"
#include "util/clock.h"
#include "util/private_files.h"

namespace sprocket::deploy {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Dependencies are installed once per distinct manifest: the hash of package.json and
// package-lock.json names the cached node_modules.
std::string manifest_key(const fs::path& folder) {
  std::string both = read_file(folder / "package.json") + '\0' + read_file(folder / "package-lock.json");
  unsigned char hash[32];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(both.data()), both.size(), nullptr, 0);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  return hex;
}

// Sandboxed workers run as uids of their own and see their version's folder through a bind
// mount: the folder itself must let them in. The folders above it (0700) keep everyone else out.
constexpr fs::perms kServedFolderPerms = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                         fs::perms::others_read | fs::perms::others_exec;

// What an upload or an unpacking that did not finish leaves: `incoming-*` staging folders, a
// version's `.incoming` folder, an npm cache entry's `.tmp` copy.
bool is_partial(const fs::path& path) {
  std::string name = path.filename().string();
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return name.rfind("incoming-", 0) == 0 || ends_with(".incoming") || ends_with(".tmp");
}

// Longer than any deploy takes, its npm install included: a version stored earlier and still not
// committed was cut off.
constexpr std::chrono::milliseconds kLongestDeploy{std::chrono::hours(1)};
constexpr const char* kShuttingDown = "the node is shutting down: nothing was deployed; deploy again once it is back";

DeployOutcome refused(unsigned status, std::string message) { return {status, json::object{{"message", std::move(message)}}}; }

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
}

// The node unpacks an upload in a folder of its own; what the deployer is told names files as
// they are in the folder they uploaded ("src/app/app.functions/serverless.json:7:25"), not as
// the node stores them.
std::string in_upload_terms(std::string text, const fs::path& unpacked) {
  std::error_code ec;
  for (const fs::path& spelling : {unpacked, fs::weakly_canonical(unpacked, ec)}) {
    replace_all(text, spelling.string() + "/", "");
    replace_all(text, spelling.string(), "the uploaded folder");
  }
  return text;
}

// The folder an upload is unpacked and validated in (0700: only its own folder, once moved into
// place, is readable by the sandboxed workers): gone when the deploy ends, whether it was
// refused or its files moved on into the version's own folder. What a crash leaves behind goes
// at the next start (DeployService::restore).
class StagingFolder {
 public:
  explicit StagingFolder(fs::path path) : path_(std::move(path)) {}
  ~StagingFolder() { remove(); }
  // Before a refusal is answered, not after: the answer is posted to the event loop and can reach
  // the deployer before this thread unwinds, and one told "refused" must find nothing left.
  void remove() {
    if (std::exchange(removed_, true)) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (ec) fmt::print(stderr, "sprocket: cannot remove the partial upload {}: {}; the next start tries again\n", path_.string(), ec.message());
  }
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool removed_ = false;
};

}  // namespace

DeployService::DeployService(boost::asio::io_context& io, const accounts::Deployment& deployment, store::StoreExecutor& store,
                             fs::path data_dir, bool shared_store, Activate activate, Vet vet)
    : io_(io), deployment_(deployment), store_(store), root_(std::filesystem::absolute(data_dir / "deployments")),
      activate_(std::move(activate)), vet_(std::move(vet)), shared_store_(shared_store) {}

template <class T>
T DeployService::on_store(std::function<T(store::Store&)> task) {
  std::promise<T> result;
  store_.post([&](store::Store& s) {
    try {
      result.set_value(task(s));
    } catch (...) {
      result.set_exception(std::current_exception());
    }
  });
  return result.get_future().get();
}

void DeployService::finish(Done done, DeployOutcome outcome) {
  boost::asio::post(io_, [done = std::move(done), outcome = std::move(outcome)]() mutable { done(std::move(outcome)); });
}

Expected<fs::path, std::string> DeployService::materialise(std::int64_t account_id, std::int64_t version) {
  fs::path folder = root_ / std::to_string(account_id) / std::to_string(version);
  std::error_code ec;
  if (fs::is_directory(folder, ec)) return folder;
  auto archive = on_store<std::optional<std::string>>([&](store::Store& s) { return s.deployment_archive(account_id, version); });
  if (!archive) return Unexpected{fmt::format("version {} of account {} is not stored", version, account_id)};
  fs::path incoming = folder.string() + ".incoming";
  fs::remove_all(incoming, ec);
  private_folder(incoming.parent_path());
  auto unpacked = unpack_archive(*archive, incoming);
  if (!unpacked) {
    fs::remove_all(incoming, ec);
    return Unexpected{unpacked.error()};
  }
  fs::rename(incoming, folder, ec);
  if (!ec) fs::permissions(folder, kServedFolderPerms, fs::perm_options::replace, ec);
  if (ec) {
    fs::remove_all(incoming, ec);
    return Unexpected{fmt::format("cannot move {} into place: {}", folder.string(), ec.message())};
  }
  return folder;
}

Expected<void*, std::string> DeployService::install(const config::Catalog& catalog) {
  // Deployed folders only: those served in place are installed when the node starts.
  std::set<fs::path> folders;
  std::string deployed_root = root_.string() + "/";
  for (const auto& folder : config::node_code_folders(catalog)) {
    if (folder.string().rfind(deployed_root, 0) == 0) folders.insert(folder);
  }
  for (const auto& folder : folders) {
    std::error_code ec;
    if (!fs::exists(folder / "package.json", ec) || fs::exists(folder / "node_modules", ec)) continue;
    fs::path cached = root_ / ".npm-cache" / manifest_key(folder) / "node_modules";
    private_folder(root_ / ".npm-cache");
    if (fs::is_directory(cached, ec)) {
      fs::copy(cached, folder / "node_modules", fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
      if (!ec) continue;
    }
    auto installed = runtime::install_dependencies(folder);
    if (!installed) return Unexpected{installed.error()};
    if (fs::is_directory(folder / "node_modules", ec)) {
      fs::create_directories(cached.parent_path(), ec);
      fs::path temporary = cached.string() + ".tmp";
      fs::remove_all(temporary, ec);
      fs::copy(folder / "node_modules", temporary, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
      if (!ec) fs::rename(temporary, cached, ec);
    }
  }
  return nullptr;
}

void DeployService::private_folder(const fs::path& folder) {
  std::error_code ec;
  util::create_private_directories(folder, ec);
  if (ec) fmt::print(stderr, "sprocket: cannot make the folder {}: {}\n", folder.string(), ec.message());
}

void DeployService::remove_partial_uploads() {
  std::error_code ec;
  std::vector<fs::path> partial;
  for (const auto& account : fs::directory_iterator(root_, ec)) {
    if (!account.is_directory(ec)) continue;
    for (const auto& entry : fs::directory_iterator(account.path(), ec)) {
      if (is_partial(entry.path())) partial.push_back(entry.path());
    }
  }
  for (const auto& path : partial) {
    fs::remove_all(path, ec);
    if (ec) {
      fmt::print(stderr, "sprocket: cannot remove the partial upload {}: {}\n", path.string(), ec.message());
    } else {
      fmt::print(stderr, "sprocket: removed {}, left by an upload or unpacking that did not finish\n", path.string());
    }
  }
}

void DeployService::remove_uncommitted_versions() {
  // Another node's deploy may be between storing and committing its version now: only what is
  // older than any deploy takes (an npm install included) was cut off.
  std::int64_t stored_before = shared_store_ ? util::unix_now_ms() - kLongestDeploy.count() : INT64_MAX;
  auto removed = on_store<std::vector<store::DeploymentRecord>>(
      [stored_before](store::Store& s) { return s.remove_uncommitted_deployments(stored_before); });
  for (const auto& d : removed) {
    std::error_code ec;
    fs::remove_all(root_ / std::to_string(d.account_id) / std::to_string(d.version), ec);
    fmt::print(stderr, "sprocket: removed version {} of {} (account {}): its deploy stopped before its commit point, so it was never "
               "deployed\n", d.version, d.name, d.account_id);
  }
}

void DeployService::stop_committing() { stopping_ = true; }

Expected<std::vector<accounts::DeployedSource>, std::string> DeployService::restore() {
  std::promise<Expected<std::vector<accounts::DeployedSource>, std::string>> result;
  thread_.post([&] {
    try {
      remove_partial_uploads();
      remove_uncommitted_versions();
      auto sources = on_store<std::vector<store::ActiveSource>>([](store::Store& s) { return s.active_sources(); });
      std::vector<accounts::DeployedSource> active;
      for (const auto& source : sources) {
        auto index = deployment_.index_of(source.account_id);
        if (!index) {
          fmt::print(stderr, "sprocket: deployment {} v{} belongs to account {}, which this node does not serve\n", source.name,
                     source.version, source.account_id);
          continue;
        }
        auto folder = materialise(source.account_id, source.version);
        if (!folder) {
          result.set_value(Unexpected{folder.error()});
          return;
        }
        active.push_back({*index, source.name, source.version, *folder});
      }
      active_ = active;
      result.set_value(active);
    } catch (const std::exception& e) {
      result.set_value(Unexpected{std::string(e.what())});
    }
  });
  return result.get_future().get();
}

void DeployService::guarded(Done done, std::function<void(Done&)> work) {
  // An exception on the deploy thread (a store error, a full disk) answers the request; it must
  // not end the process.
  thread_.post([this, done = std::move(done), work = std::move(work)]() mutable {
    try {
      work(done);
    } catch (const std::exception& e) {
      if (done) finish(std::move(done), refused(500, fmt::format("the node could not complete this: {}", e.what())));
    }
  });
}

std::optional<DeployService::Refusal> DeployService::vet(const config::Catalog& catalog, std::vector<std::string>& warnings) {
  if (!vet_) return std::nullopt;
  std::promise<std::vector<std::string>> vetted;
  boost::asio::post(io_, [&vetted, &catalog, &warnings, this] {
    try {
      vetted.set_value(vet_(catalog, warnings));
    } catch (...) {
      vetted.set_exception(std::current_exception());
    }
  });
  auto future = vetted.get_future();
  // The event loop may be stopping (a shutdown): then nobody answers, and the deploy is refused.
  while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (io_.stopped()) return Refusal{503, "the node is shutting down"};
  }
  if (auto problems = future.get(); !problems.empty()) return Refusal{400, fmt::format("{}", fmt::join(problems, "\n"))};
  return std::nullopt;
}

Expected<void*, std::string> DeployService::move_into_place(const fs::path& unpacked, const fs::path& folder) {
  std::error_code ec;
  fs::remove_all(folder, ec);  // what a deploy that failed before its activation may have left
  if (!ec) fs::rename(unpacked, folder, ec);
  if (!ec) fs::permissions(folder, kServedFolderPerms, fs::perm_options::replace, ec);
  if (!ec) return nullptr;
  // The path is the node's business (its log), the reason the deployer's.
  std::string why = ec.message();
  if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
  fmt::print(stderr, "sprocket: cannot move a deploy into {}: {}\n", folder.string(), why);
  return Unexpected{fmt::format("the node could not put the new version's files in place ({}); its log names the folder", why)};
}

Expected<void*, std::string> DeployService::activate_in_store(std::int64_t account_id, std::int64_t version, const std::string& outcome) {
  try {
    if (on_store<bool>([&](store::Store& s) { return s.activate_deployment(account_id, version, outcome); })) return nullptr;
    return Unexpected{fmt::format("version {} of account {} is no longer stored", version, account_id)};
  } catch (const std::exception& e) {
    return Unexpected{fmt::format("the store could not mark version {} active: {}", version, e.what())};
  }
}

void DeployService::forget_version(std::int64_t account_id, std::int64_t version, const fs::path& folder) {
  std::error_code ec;
  if (!folder.empty()) fs::remove_all(folder, ec);
  try {
    if (on_store<bool>([&](store::Store& s) { return s.remove_inactive_deployment(account_id, version); })) return;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: version {} of account {} stays stored, never active: {}\n", version, account_id, e.what());
  }
}

std::optional<DeployOutcome> DeployService::replay(std::int64_t account_id, const std::string& name, const std::string& archive,
                                                   const std::string& deploy_id) {
  if (deploy_id.empty()) return std::nullopt;
  auto committed = on_store<std::optional<store::CommittedDeploy>>([&](store::Store& s) { return s.committed_deploy(account_id, deploy_id); });
  if (!committed) return std::nullopt;
  if (committed->name != name || committed->archive != archive) {
    return refused(409, fmt::format("deploy id {} was already used for another upload (version {} of {}); a retry must send the "
                                    "same folder, and a new deploy a new id",
                                    deploy_id, committed->version, committed->name));
  }
  boost::system::error_code ec;
  auto body = json::parse(committed->outcome, ec);
  if (ec || !body.is_object()) return refused(500, fmt::format("the answer stored for deploy id {} cannot be read", deploy_id));
  body.as_object()["replayed"] = true;
  return DeployOutcome{201, std::move(body.as_object())};
}

void DeployService::deploy(std::int64_t account_id, std::string name, std::string message, std::string archive, std::string deploy_id,
                           Done done_) {
  guarded(std::move(done_), [this, account_id, name = std::move(name), message = std::move(message), archive = std::move(archive),
                             deploy_id = std::move(deploy_id)](Done& done) mutable {
    auto index = deployment_.index_of(account_id);
    if (!index) return finish(std::move(done), refused(400, fmt::format("account {} is not served here", account_id)));
    // A retry of an upload that was committed (its answer lost with the connection) gets that
    // answer: the same upload is never deployed twice.
    if (auto replayed = replay(account_id, name, archive, deploy_id)) return finish(std::move(done), std::move(*replayed));
    if (stopping_) return finish(std::move(done), refused(503, kShuttingDown));
    // Unpack beside the versions and validate everything there, as it will be served, before
    // anything is stored or activated: a refused deploy changes nothing.
    private_folder(root_ / std::to_string(account_id));
    StagingFolder staging(root_ / std::to_string(account_id) / fmt::format("incoming-{}", util::unix_now_ms()));
    private_folder(staging.path());
    auto refuse = [&](unsigned status, const std::string& why) {
      std::string message = in_upload_terms(why, staging.path());
      staging.remove();
      finish(std::move(done), refused(status, message));
    };
    if (auto unpacked = unpack_archive(archive, staging.path()); !unpacked) return refuse(400, unpacked.error());
    auto candidate = active_;
    std::erase_if(candidate, [&](const auto& s) { return s.account_index == *index && s.name == name; });
    candidate.push_back({*index, name, 0, staging.path()});
    std::vector<accounts::Takeover> takeovers;
    auto catalog = accounts::load_functions(deployment_, candidate, &takeovers);
    if (!catalog) return refuse(400, config::format_errors(catalog.error()));
    std::vector<std::string> vet_warnings;
    if (auto refusal = vet(*catalog, vet_warnings)) return refuse(refusal->status, refusal->why);
    if (auto installed = install(*catalog); !installed) return refuse(400, installed.error());
    // What this upload brings: said once, for this deploy (the catalog holds every source's).
    json::array shadows, warnings;
    for (auto& t : takeovers) {
      if (t.source == candidate.size() - 1) shadows.emplace_back(t.what);
    }
    for (const auto* said : {&catalog->warnings, &vet_warnings}) {
      for (const auto& w : *said) {
        if (auto mine = in_upload_terms(w, staging.path()); mine != w) warnings.emplace_back(mine);
      }
    }

    // Stored, moved into its version's folder, loaded from there, and only then active: each
    // step checked, and a failure undoes the steps before it, so that the store never names as
    // active a version the node does not serve (a restart would switch to it).
    std::int64_t version = 0;
    try {
      version = on_store<std::int64_t>(
          [&](store::Store& s) { return s.store_deployment(account_id, name, message, archive, util::unix_now_ms(), deploy_id); });
    } catch (const std::exception& e) {
      return refuse(500, fmt::format("the deployment could not be stored: {}", e.what()));
    }
    fs::path folder = root_ / std::to_string(account_id) / std::to_string(version);
    if (auto placed = move_into_place(staging.path(), folder); !placed) {
      forget_version(account_id, version, {});
      return refuse(500, placed.error());
    }
    candidate.back() = {*index, name, version, folder};
    // Validated already; loaded again so that file paths point at the version's own folder.
    auto final_catalog = accounts::load_functions(deployment_, candidate);
    if (!final_catalog) {
      forget_version(account_id, version, folder);
      return refuse(500, in_upload_terms(config::format_errors(final_catalog.error()), folder));
    }
    json::array routes;
    for (const auto& f : final_catalog->functions) {
      if (f.account_index == *index && f.deployed_version == version) {
        routes.push_back(json::object{{"name", f.name}, {"route", f.route ? json::value(*f.route) : json::value(nullptr)}});
      }
    }
    json::array deployed_actions;
    for (const auto& a : final_catalog->actions) {
      if (a.account_index == *index && a.deployed_version == version) deployed_actions.emplace_back(a.name);
    }
    DeployOutcome outcome{201, json::object{{"version", version}, {"name", name}, {"accountId", account_id}, {"functions", routes},
                                            {"actions", deployed_actions}, {"shadowed", shadows}, {"warnings", warnings}}};
    // The commit point. A node that is stopping does not commit: its answer might never be
    // written, and the deployer could not tell a deploy that happened from one that did not.
    if (stopping_) {
      forget_version(account_id, version, folder);
      return refuse(503, kShuttingDown);
    }
    if (auto activated = activate_in_store(account_id, version, json::serialize(outcome.body)); !activated) {
      forget_version(account_id, version, folder);
      return refuse(500, activated.error());
    }
    active_ = candidate;
    boost::asio::post(io_, [this, catalog = std::move(*final_catalog), sources = active_, done = std::move(done),
                            outcome = std::move(outcome)]() mutable {
      // Committed: whatever happens now, the deployer hears that it was.
      try {
        activate_(std::move(catalog), std::move(sources));
      } catch (const std::exception& e) {
        fmt::print(stderr, "sprocket: version {} is active in the store but this node could not switch to it: {}\n",
                   outcome.body.at("version").as_int64(), e.what());
        outcome.body["warnings"].as_array().emplace_back(
            fmt::format("the node could not switch to this version ({}); it serves it from its next start", e.what()));
      }
      done(std::move(outcome));
    });
  });
}

void DeployService::rollback(std::int64_t account_id, std::optional<std::int64_t> version, Done done_) {
  guarded(std::move(done_), [this, account_id, version](Done& done) {
    auto index = deployment_.index_of(account_id);
    if (!index) return finish(std::move(done), refused(400, fmt::format("account {} is not served here", account_id)));
    auto all = on_store<std::vector<store::DeploymentRecord>>([&](store::Store& s) { return s.deployments(account_id); });
    std::optional<store::DeploymentRecord> target;
    if (version) {
      for (const auto& d : all) {
        if (d.version == *version) target = d;
      }
      if (!target) return finish(std::move(done), refused(404, fmt::format("account {} has no version {}", account_id, *version)));
    } else {
      // Without a version: the most recently activated name goes back to its previous version.
      const accounts::DeployedSource* last = nullptr;
      for (const auto& s : active_) {
        if (s.account_index == *index) last = &s;
      }
      if (!last) return finish(std::move(done), refused(409, "nothing is deployed to roll back"));
      for (const auto& d : all) {
        if (d.name == last->name && d.version < last->version) {
          target = d;
          break;
        }
      }
      if (!target) {
        return finish(std::move(done), refused(409, fmt::format("{} has no version before {}", last->name, last->version)));
      }
    }
    auto folder = materialise(account_id, target->version);
    if (!folder) return finish(std::move(done), refused(500, folder.error()));
    auto candidate = active_;
    std::erase_if(candidate, [&](const auto& s) { return s.account_index == *index && s.name == target->name; });
    candidate.push_back({*index, target->name, target->version, *folder});
    auto catalog = accounts::load_functions(deployment_, candidate);
    if (!catalog) return finish(std::move(done), refused(409, config::format_errors(catalog.error())));
    if (auto installed = install(*catalog); !installed) return finish(std::move(done), refused(500, installed.error()));
    if (auto activated = activate_in_store(account_id, target->version); !activated) {
      return finish(std::move(done), refused(409, activated.error()));  // nothing changed: the old version serves
    }
    active_ = candidate;
    DeployOutcome outcome{200, json::object{{"version", target->version}, {"name", target->name}, {"accountId", account_id}}};
    boost::asio::post(io_, [this, catalog = std::move(*catalog), sources = active_, done = std::move(done),
                            outcome = std::move(outcome)]() mutable {
      activate_(std::move(catalog), std::move(sources));
      done(std::move(outcome));
    });
  });
}

void DeployService::follow_store() {
  // One look queued at a time: it reads the store after every change before it was queued.
  if (follow_queued_.exchange(true)) return;
  thread_.post([this] {
    follow_queued_ = false;
    try {
      auto sources = on_store<std::vector<store::ActiveSource>>([](store::Store& s) { return s.active_sources(); });
      std::vector<accounts::DeployedSource> wanted;
      for (const auto& source : sources) {
        auto index = deployment_.index_of(source.account_id);
        if (!index) continue;  // said at the start
        auto same = std::find_if(active_.begin(), active_.end(), [&](const accounts::DeployedSource& a) {
          return a.account_index == *index && a.name == source.name && a.version == source.version;
        });
        if (same != active_.end()) {
          wanted.push_back(*same);
          continue;
        }
        auto folder = materialise(source.account_id, source.version);
        if (!folder) {
          fmt::print(stderr, "sprocket: cannot serve version {} of {} (account {}), which another node activated: {}; "
                             "this node keeps serving what it served\n", source.version, source.name, source.account_id, folder.error());
          return;
        }
        wanted.push_back({*index, source.name, source.version, *folder});
      }
      auto key = [](const accounts::DeployedSource& d) { return std::tie(d.account_index, d.name, d.version); };
      if (std::equal(wanted.begin(), wanted.end(), active_.begin(), active_.end(),
                     [&](const auto& a, const auto& b) { return key(a) == key(b); })) {
        return;
      }
      auto catalog = accounts::load_functions(deployment_, wanted);
      if (!catalog) {
        fmt::print(stderr, "sprocket: cannot serve the versions another node activated:\n{}\nthis node keeps serving what it served\n",
                   config::format_errors(catalog.error()));
        return;
      }
      if (auto installed = install(*catalog); !installed) {
        fmt::print(stderr, "sprocket: cannot install the dependencies of the versions another node activated: {}; this node keeps "
                           "serving what it served\n", installed.error());
        return;
      }
      std::vector<std::string> changed;
      for (const auto& w : wanted) {
        if (std::none_of(active_.begin(), active_.end(), [&](const auto& a) { return key(a) == key(w); })) {
          changed.push_back(fmt::format("{} v{} (account {})", w.name, w.version, deployment_.accounts[w.account_index].id));
        }
      }
      for (const auto& a : active_) {
        if (std::none_of(wanted.begin(), wanted.end(), [&](const auto& w) { return w.account_index == a.account_index && w.name == a.name; })) {
          changed.push_back(fmt::format("{} removed (account {})", a.name, deployment_.accounts[a.account_index].id));
        }
      }
      active_ = wanted;
      boost::asio::post(io_, [this, catalog = std::move(*catalog), sources = active_, changed = std::move(changed)]() mutable {
        activate_(std::move(catalog), std::move(sources));
        fmt::print(stderr, "sprocket: now serving what was activated elsewhere: {}\n", fmt::join(changed, ", "));
      });
    } catch (const std::exception& e) {
      fmt::print(stderr, "sprocket: cannot read the versions other nodes activated: {}; trying again at the next change\n", e.what());
    }
  });
}

void DeployService::versions(std::int64_t account_id, Done done_) {
  guarded(std::move(done_), [this, account_id](Done& done) {
    auto all = on_store<std::vector<store::DeploymentRecord>>([&](store::Store& s) { return s.deployments(account_id); });
    json::array list;
    for (const auto& d : all) {
      list.push_back(json::object{{"version", d.version}, {"name", d.name}, {"message", d.message},
                                  {"createdAt", logs::iso_timestamp(d.created_ms)}, {"active", d.active}});
    }
    finish(std::move(done), DeployOutcome{200, json::object{{"versions", list}}});
  });
}

}  // namespace sprocket::deploy
