#pragma once
// How a node's open-file limit is shared between client connections and everything else it
// opens: worker sockets, pipes and pidfds, the store, log files, and the accept that refuses a
// client politely when the cap is reached.
#include <cstddef>
#include <optional>
#include <string>

namespace sprocket::http {

struct ConnectionCaps {
  std::size_t gateway = 0;  // client connections to functions
  std::size_t admin = 0;    // admin API connections
  std::size_t reserve = 0;  // descriptors kept for the rest
  std::optional<std::string> warning;  // a requested cap that did not fit, and what was used instead
};

// A quarter of `open_files_limit` (at most 1,024) stays in reserve, admin gets a sixteenth (at
// most 128), the gateway the rest, at most 65,536 (an idle connection costs memory too).
// `requested` (--max-connections) replaces the gateway's share when it fits beside the reserve.
ConnectionCaps divide_open_files(std::size_t open_files_limit, std::optional<std::size_t> requested = std::nullopt);

}  // namespace sprocket::http
