#pragma once
// The server's secrets: encrypted in the Store, decrypted in memory, pushed to the runtime on
// every change — whether the change came through the admin API or from `sprocket secrets`
// writing the same store (a store::ChangeFeed says so: reload_changed()).
#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>
#include <vector>

#include "secrets/secret_box.h"
#include "secrets/secret_values.h"
#include "store/store_executor.h"
#include "util/expected.h"

namespace sprocket::secrets {

struct SecretInfo {
  std::string name;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

// A name as HubSpot accepts it: an environment variable name.
std::optional<std::string> invalid_secret_name(std::string_view name);  // why, or nullopt
store::SecretRecord seal_secret(std::int64_t account_id, const std::string& name, std::string_view value, const SecretBox& box);

class SecretsService {
 public:
  using OnChange = std::function<void(const SecretValues&)>;

  SecretsService(boost::asio::io_context& io, store::StoreExecutor& executor, SecretBox box, OnChange on_change);
  // Reads and decrypts every secret now (start-up: blocks on the store thread).
  void load_now();
  // The store changed elsewhere (another process, another node): read it again, and push the
  // values to the runtime if they differ.
  void reload_changed() { reload(); }

  // `done` gets an error (the store failed) or, for put, whether the secret was created; for
  // remove, whether it existed.
  using Done = std::function<void(std::optional<std::string> error, bool flag)>;
  void put(std::int64_t account_id, std::string name, std::string value, Done done);
  void remove(std::int64_t account_id, std::string name, Done done);
  void list(std::int64_t account_id, std::function<void(std::optional<std::string> error, std::vector<SecretInfo>)> done);
  std::size_t count(std::int64_t account_id) const;
  bool exists(std::int64_t account_id, const std::string& name) const;

 private:
  void reload(std::function<void()> then = nullptr);

  boost::asio::io_context& io_;
  store::StoreExecutor& executor_;
  SecretBox box_;
  OnChange on_change_;
  SecretValues values_;
};

}  // namespace sprocket::secrets
