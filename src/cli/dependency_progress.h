#pragma once
// npm installs take seconds to minutes: say what is being installed while it runs. On a
// terminal one line turns (a spinner and the seconds so far) and is replaced by the outcome;
// anywhere else (a pipe, a log file, journald) one plain line before and one after.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "config/catalog.h"
#include "util/expected.h"

namespace sprocket::cli {

class ProgressLine {
 public:
  // Starts saying "sprocket: WHAT…" on `fd` (stderr), turning when `fd` is a terminal.
  explicit ProgressLine(std::string what, int fd = 2);
  ~ProgressLine();  // ends the line as finish("stopped") would, when finish() was not called
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void finish(const std::string& outcome);  // "sprocket: WHAT: OUTCOME (N.N s)"

 private:
  void turn();  // the spinner thread

  std::string what_;
  int fd_;
  bool terminal_;
  std::chrono::steady_clock::time_point started_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread spinner_;
};

// Installs the dependencies of every Node.js folder in `catalog` (runtime::install_dependencies),
// with a ProgressLine for each one npm runs for. The error carries npm's output.
Expected<void*, std::string> install_node_dependencies(const config::Catalog& catalog);

}  // namespace sprocket::cli
