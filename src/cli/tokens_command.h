#pragma once
// `sprocket tokens create|list|revoke`: admin tokens that work for one account only, kept in
// the store as hashes.
#include <cstdint>
#include <string>

namespace sprocket::cli {

struct TokensOptions {
  std::string data_dir = ".sprocket";
  std::string store;  // --store: empty is sqlite:DATA_DIR/sprocket.db (store/store_location.h)
  std::int64_t account_id = 123456;
  std::string id;     // revoke: the id `tokens list` shows (tok_…)
  std::string server; // list, revoke: a running node's admin API instead of the store (the node's own token)
  std::int64_t unused_account = 0;  // what a profile's account would fill: tokens are not one account's
  bool json = false;  // list
};

int run_tokens_create(const TokensOptions& options);
int run_tokens_list(const TokensOptions& options);
int run_tokens_revoke(const TokensOptions& options);

}  // namespace sprocket::cli
