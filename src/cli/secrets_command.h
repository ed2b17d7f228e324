#pragma once
// `sprocket secrets add|update|list|delete [NAME]`, on a data directory or a remote server.
#include <cstdint>
#include <string>

namespace sprocket::cli {

struct SecretsOptions {
  std::string action;  // add | update | list | delete
  std::string name;
  std::string data_dir = ".sprocket";
  std::string store;  // --store: empty is sqlite:DATA_DIR/sprocket.db (store/store_location.h)
  std::string server;  // admin URL; empty: work on data_dir
  std::int64_t account_id = 123456;
  bool json = false;  // list: a JSON array of {name, updatedAt}
};

int run_secrets(const SecretsOptions& options);

}  // namespace sprocket::cli
