#pragma once
// One version of everything a node serves: its functions, how paths reach them, and the
// workers that run them. A deploy or a reload builds a new generation and swaps it in; requests
// in flight keep the generation they started on until they finish.
#include <cstdint>
#include <memory>
#include <vector>

#include "config/catalog.h"
#include "http/router.h"
#include "runtime/dispatcher.h"

namespace sprocket::http {

struct Generation {
  std::uint64_t number = 0;
  config::Catalog catalog;  // every account's functions
  std::vector<Router> routers;  // per account index
  std::unique_ptr<runtime::Dispatcher> dispatcher;

  ~Generation() {
    if (dispatcher) dispatcher->shutdown();  // its workers go with it
  }
};

}  // namespace sprocket::http
