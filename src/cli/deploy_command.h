#pragma once
// `sprocket deploy PATH`, `sprocket versions`, `sprocket rollback [VERSION]`: through a running
// server's admin API.
#include <cstdint>
#include <optional>
#include <string>

namespace sprocket::cli {

struct DeployOptions {
  std::string path = ".";
  std::string server = "http://127.0.0.1:8081";
  std::string data_dir = ".sprocket";  // for the admin token when SPROCKET_TOKEN is not set
  std::int64_t account_id = 123456;
  std::string message;
  std::string name;                     // default: hsproject.json "name", else the folder's name
  std::optional<std::int64_t> version;  // rollback
  std::string deploy_id;                // default: a new random one; the same id retries a deploy
  bool json = false;                    // deploy and versions: print the result as JSON
};

int run_deploy(const DeployOptions& options);
int run_versions(const DeployOptions& options);
int run_rollback(const DeployOptions& options);

}  // namespace sprocket::cli
