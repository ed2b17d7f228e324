#include "util/open_files.h"

#include <sys/resource.h>

namespace sprocket::util {

std::size_t raise_open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  // RLIM_INFINITY is not a count; no kernel hands out more than this anyway (fs.nr_open's ceiling).
  constexpr rlim_t kMost = 1 << 30;
  return static_cast<std::size_t>(limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > kMost ? kMost : limit.rlim_cur);
}

}  // namespace sprocket::util
