#pragma once
// `sprocket logs [FUNCTION] [--follow] [--latest] [--since D] [--request-id ID] [--json] [--limit N]`.
#include <cstdint>
#include <string>

namespace sprocket::cli {

struct LogsOptions {
  std::string function;  // endpoint name, function name, or request path
  bool follow = false;
  bool latest = false;
  bool json = false;
  bool compact = false;
  std::string color = "auto";  // auto | always | never (cli/colour.h), for the text form
  std::string since;
  std::string request_id;
  std::size_t limit = 20;
  std::string data_dir = ".sprocket";
  std::string store;  // --store: empty is sqlite:DATA_DIR/sprocket.db (store/store_location.h)
  std::string server;
  std::int64_t account_id = 123456;
};

int run_logs(const LogsOptions& options);

}  // namespace sprocket::cli
