#include "cli/colour.h"

#include <cstdlib>
#include <unistd.h>

namespace sprocket::cli {

bool colour_wanted(std::string_view mode, int fd) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  // NO_COLOR's convention: any value but the empty string turns colour off.
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour && *no_colour) return false;
  return ::isatty(fd) == 1;
}

}  // namespace sprocket::cli
