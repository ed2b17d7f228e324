#pragma once
// Deployments on a running node: validate an uploaded folder completely (serverless.json, limits,
// npm install) before it serves, store it, activate it atomically; list versions; roll back;
// restore what was active after a restart. The slow work runs on its own thread.
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "accounts/deployment.h"
#include "store/store_executor.h"
#include "util/task_thread.h"

namespace sprocket::deploy {

struct DeployOutcome {
  unsigned status = 200;      // HTTP status for the admin API
  boost::json::object body;   // the answer, or {"message": …} explaining a refusal
};

class DeployService {
 public:
  // `activate` runs on the event loop with the complete catalog to serve from now on, and the
  // deployed sources it was built from.
  using Activate = std::function<void(config::Catalog, std::vector<accounts::DeployedSource>)>;

  // `vet` runs on the event loop with a candidate catalog: rules that need the node's live state
  // (the secrets' values); what it returns refuses the deploy, what it adds to `warnings` is
  // said to the deployer (those about the upload's own files: they name its folder).
  using Vet = std::function<std::vector<std::string>(const config::Catalog&, std::vector<std::string>& warnings)>;

  // `shared_store`: other nodes deploy to the same store (follow_store() then matters, and a
  // version stored but not committed may be another node's deploy in progress).
  DeployService(boost::asio::io_context& io, const accounts::Deployment& deployment, store::StoreExecutor& store,
                std::filesystem::path data_dir, bool shared_store, Activate activate, Vet vet = nullptr);

  // Start-up (blocking): the deployed sources that were active, unpacked where needed.
  Expected<std::vector<accounts::DeployedSource>, std::string> restore();

  using Done = std::function<void(DeployOutcome)>;  // called on the event loop
  // `deploy_id`: the client's id for this upload; a retry with the same id and upload is answered
  // as the deploy that committed was, and deploys nothing (empty: no retry is recognised).
  void deploy(std::int64_t account_id, std::string name, std::string message, std::string archive, std::string deploy_id, Done done);
  void rollback(std::int64_t account_id, std::optional<std::int64_t> version, Done done);
  void versions(std::int64_t account_id, Done done);
  // The store's active versions may have changed (the change feed said so): another node
  // deployed or rolled back. This node switches to what the store says is active, unpacking and
  // installing it first; nothing happens when it serves those versions already.
  void follow_store();
  // The node is stopping: deploys not committed yet are refused (503) rather than committed
  // with an answer that might never be written.
  void stop_committing();

 private:
  struct Refusal {
    unsigned status;
    std::string why;
  };

  template <class T>
  T on_store(std::function<T(store::Store&)> task);
  Expected<std::filesystem::path, std::string> materialise(std::int64_t account_id, std::int64_t version);
  Expected<void*, std::string> install(const config::Catalog& catalog);
  std::optional<Refusal> vet(const config::Catalog& catalog, std::vector<std::string>& warnings);  // asks the event loop
  Expected<void*, std::string> move_into_place(const std::filesystem::path& unpacked, const std::filesystem::path& folder);
  Expected<void*, std::string> activate_in_store(std::int64_t account_id, std::int64_t version, const std::string& outcome = "");
  std::optional<DeployOutcome> replay(std::int64_t account_id, const std::string& name, const std::string& archive,
                                      const std::string& deploy_id);
  void private_folder(const std::filesystem::path& folder);  // 0700, made if missing
  void remove_partial_uploads();                              // start-up: what a crash left behind
  void remove_uncommitted_versions();                         // start-up: versions stored by a deploy a crash cut off
  // Undoes a stored version that never became active: its row, and its folder when it got one.
  void forget_version(std::int64_t account_id, std::int64_t version, const std::filesystem::path& folder);
  void finish(Done done, DeployOutcome outcome);
  void guarded(Done done, std::function<void(Done&)> work);

  boost::asio::io_context& io_;
  const accounts::Deployment& deployment_;
  store::StoreExecutor& store_;
  std::filesystem::path root_;  // DATA_DIR/deployments
  Activate activate_;
  Vet vet_;
  std::vector<accounts::DeployedSource> active_;  // owned by the deploy thread once started
  std::atomic<bool> stopping_{false};
  bool shared_store_ = false;
  std::atomic<bool> follow_queued_{false};
  util::TaskThread thread_;  // last: stopped (joined) first
};

}  // namespace sprocket::deploy
