#pragma once
// A WorkerLauncher for tests and fuzz targets: its "workers" are `sleep` processes that hold
// their end of the control socket and never read or write it, so the test plays the worker.
#include <string>
#include <vector>

#include "runtime/worker_launcher.h"

namespace sprocket::test_support {

class SilentLauncher : public runtime::WorkerLauncher {
 public:
  runtime::ChildProcess start(const runtime::WorkerImage&, const std::vector<std::string>&) override {
    runtime::ProcessSpec spec;
    spec.argv = {"/bin/sleep", "600"};
    spec.cwd = "/";
    return runtime::ChildProcess::start(spec);
  }
  std::filesystem::path worker_path(const std::filesystem::path&, const std::filesystem::path& host_path) const override { return host_path; }
  Expected<void*, std::string> expose(const runtime::ChildProcess&, const std::filesystem::path&) override { return static_cast<void*>(nullptr); }
  const runtime::GuestInstall& guest() const override { return guest_; }
  std::string describe() const override { return "silent processes (tests)"; }

 private:
  runtime::GuestInstall guest_;
};

}  // namespace sprocket::test_support
