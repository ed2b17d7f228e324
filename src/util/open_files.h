#pragma once
// The process's limit on open file descriptors (RLIMIT_NOFILE).
#include <cstddef>

namespace sprocket::util {

// Raises the soft limit to the hard one (a server needs a descriptor per client connection) and
// returns the soft limit in force afterwards.
std::size_t raise_open_files_limit();

}  // namespace sprocket::util
