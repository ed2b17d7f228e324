#pragma once
// Which function serves a request path.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/function_spec.h"

namespace sprocket::http {

inline constexpr std::string_view kAppFunctionPrefix = "/api/crm-extensibility/execution/internal/v3/action/function/";

class Router {
 public:
  // The functions of one account (`account_index`).
  Router(const std::vector<config::FunctionSpec>& functions, std::size_t account_index);
  // Index of the function serving `path` (no query string; one trailing '/' is tolerated).
  std::optional<std::size_t> find_route(std::string_view path) const;
  std::optional<std::size_t> find_app_function(std::string_view name) const;

 private:
  std::unordered_map<std::string, std::size_t> routes_;
  std::unordered_map<std::string, std::size_t> app_functions_;
};

}  // namespace sprocket::http
