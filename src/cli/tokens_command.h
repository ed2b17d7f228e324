#pragma once
// `sprocket tokens create --account ID`: an admin token that works for one account only.
#include <cstdint>
#include <string>

namespace sprocket::cli {

struct TokensOptions {
  std::string data_dir = ".sprocket";
  std::string store;  // --store: empty is sqlite:DATA_DIR/sprocket.db (store/store_location.h)
  std::int64_t account_id = 123456;
};

int run_tokens_create(const TokensOptions& options);

}  // namespace sprocket::cli
