#pragma once
// `sprocket functions list PATH…` (what serve would serve, loaded as serve loads it) and
// `sprocket functions create NAME [--project]` (a new function to start from, in either format).
#include <cstdint>
#include <string>
#include <vector>

namespace sprocket::cli {

struct FunctionsListOptions {
  std::vector<std::string> paths;  // as for serve; empty: the current folder
  std::string config_file;
  std::int64_t account_id = 123456;
  bool json = false;
};

struct FunctionsCreateOptions {
  std::string name;
  bool project = false;  // a developer project (hsproject.json) rather than a design-manager NAME.functions
  std::string dir = ".";
};

int run_functions_list(const FunctionsListOptions& options);
int run_functions_create(const FunctionsCreateOptions& options);

}  // namespace sprocket::cli
