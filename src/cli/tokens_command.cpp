#include "cli/tokens_command.h"

#include <chrono>
#include <filesystem>
#include <fmt/format.h>

#include "admin/admin_token.h"
#include "cli/data_dir.h"
#include "store/store_location.h"

namespace sprocket::cli {

int run_tokens_create(const TokensOptions& o) {
  try {
    auto prepared = prepare_data_dir(o.data_dir);
    if (!prepared) {
      fmt::print(stderr, "sprocket: {}\n", prepared.error());
      return 2;
    }
    for (const auto& note : *prepared) fmt::print(stderr, "sprocket: {}\n", note);
    auto store = store::open_store(o.store, o.data_dir);
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
