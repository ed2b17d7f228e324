#include "http/router.h"

#include "http/request_context.h"

namespace sprocket::http {

Router::Router(const std::vector<config::FunctionSpec>& functions, std::size_t account_index) {
  for (std::size_t i = 0; i < functions.size(); ++i) {
    const auto& spec = functions[i];
    if (spec.account_index != account_index) continue;
    if (spec.route) routes_.emplace(*spec.route, i);
    if (spec.is_app_function()) app_functions_.emplace(spec.name, i);
  }
}

std::optional<std::size_t> Router::find_route(std::string_view path) const {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::string key;
  if (path.find('%') != std::string_view::npos) {
    key = percent_decode(path, false);
  } else {
    key = path;
  }
  auto it = routes_.find(key);
  if (it == routes_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::size_t> Router::find_app_function(std::string_view name) const {
  auto it = app_functions_.find(std::string(name));
  if (it == app_functions_.end()) return std::nullopt;
  return it->second;
}

}  // namespace sprocket::http
