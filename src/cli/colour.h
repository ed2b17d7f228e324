#pragma once
// `--color auto|always|never` and NO_COLOR (https://no-color.org): whether to mark output with
// ANSI colours.
#include <string_view>

namespace sprocket::cli {

// auto: only on a terminal, and only when NO_COLOR is unset or empty; always and never say it all.
bool colour_wanted(std::string_view mode, int fd);

}  // namespace sprocket::cli
