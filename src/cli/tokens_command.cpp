#include "cli/tokens_command.h"

#include <chrono>
#include <filesystem>
#include <fmt/format.h>

#include "admin/admin_token.h"
#include "store/store.h"

namespace sprocket::cli {

int run_tokens_create(const TokensOptions& o) {
  try {
    std::filesystem::create_directories(o.data_dir);
    auto store = store::open_sqlite_store(std::filesystem::path(o.data_dir) / "sprocket.db");
    std::string token = admin::new_token();
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    store->add_admin_token(admin::token_hash(token), o.account_id, now);
    // Only its hash is stored: this is the one time the token can be read.
    fmt::print("{}\n", token);
    fmt::print(stderr, "sprocket: an admin token for account {} (shown once; a running server accepts it within a second)\n",
               o.account_id);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: {}\n", e.what());
    return 1;
  }
}

}  // namespace sprocket::cli
