#pragma once
// `sprocket invoke NAME|PATH [FOLDER…]`: one request, now, like `sam local invoke`: through a
// real worker on the local folders (loaded as `serve` loads them), or, with --server, to a
// running node's public listener. Prints the status, headers and body on stdout and the
// function's log lines on stderr (or all of it as one JSON document).
#include <cstdint>
#include <string>
#include <vector>

namespace sprocket::cli {

struct InvokeOptions {
  std::string target;               // an endpoint name (/_hcms/api/NAME), a project path (/hs/serverless/PATH), or /A/FULL/PATH
  std::vector<std::string> paths;   // local folders, as for serve (default: .)
  std::string config_file;          // --config, as for serve
  std::string method;               // default: GET, or POST with --data
  std::vector<std::string> query;   // k=v, url-encoded here
  std::string data;                 // the body: JSON text, or @FILE
  std::vector<std::string> headers; // "Name: value"
  std::int64_t account_id = 123456; // local: the account whose functions run
  bool account_given = false;
  std::string server;               // the public listener of a running node (http://host:8080)
  bool json = false;
  std::string sandbox = "auto";     // as for dev
  std::string node = "/usr/bin/node";
  int time_limit_ms = 0;
};

// 0: answered 2xx or 3xx; 1: answered 4xx or 5xx (the function failed, threw or timed out);
// 2: nothing ran (bad arguments, folder errors, no such function, a server it cannot reach).
int run_invoke(const InvokeOptions& options);

}  // namespace sprocket::cli
