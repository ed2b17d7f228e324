#include "http/connection_limits.h"

#include <algorithm>
#include <fmt/format.h>

namespace sprocket::http {

ConnectionCaps divide_open_files(std::size_t open_files_limit, std::optional<std::size_t> requested) {
  constexpr std::size_t kMostReserved = 1024, kMostAdmin = 128, kMostGateway = 65536;
  ConnectionCaps caps;
  caps.reserve = std::min(kMostReserved, open_files_limit / 4);
  caps.admin = std::max<std::size_t>(1, std::min(kMostAdmin, open_files_limit / 16));
  std::size_t room = open_files_limit > caps.reserve + caps.admin ? open_files_limit - caps.reserve - caps.admin : 1;
  caps.gateway = std::min(kMostGateway, room);
  if (requested) {
    if (*requested <= room) {
      caps.gateway = *requested;
    } else {
      caps.gateway = room;
      caps.warning = fmt::format(
          "--max-connections {} does not fit in the limit of {} open files beside the {} kept for workers, the store and the "
          "admin API; serving at most {} connections (raise the hard limit, `ulimit -Hn` / LimitNOFILE=, for more)",
          *requested, open_files_limit, caps.reserve + caps.admin, caps.gateway);
    }
  }
  return caps;
}

}  // namespace sprocket::http
