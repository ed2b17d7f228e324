#include "cli/data_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <string>
#include <thread>
#include <vector>

#include "test_dir.h"

namespace sprocket::cli {
namespace {
using namespace std::chrono_literals;

TEST(DataDirTest, ALooseDataDirIsNarrowedAndEachChangeNoted) {
  sprocket::testing::TestDir dir("data-dir");
  auto data = dir.path() / "data";
  std::filesystem::create_directories(data / "deployments" / "7");
  ::chmod(data.c_str(), 0755);
  ::chmod((data / "deployments").c_str(), 0775);
  ::close(::open((data / "sprocket.db").c_str(), O_CREAT | O_WRONLY, 0644));
  ::chmod((data / "sprocket.db").c_str(), 0644);
  auto notes = prepare_data_dir(data);
  ASSERT_TRUE(notes) << notes.error();
  std::string all = fmt::format("{}", fmt::join(*notes, "\n"));
  EXPECT_NE(all.find(data.string() + " was mode 0755"), std::string::npos) << all;
  EXPECT_NE(all.find("sprocket.db was mode 0644 (others could read it); it is 0600 now"), std::string::npos) << all;
  EXPECT_NE(all.find("deployments was mode 0775"), std::string::npos) << all;
  EXPECT_NE(all.find("deployments/7 was mode"), std::string::npos) << all;
  auto again = prepare_data_dir(data);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty()) << "nothing to say the second time";
}

TEST(DataDirTest, AHeldLockIsWaitedForThenRefusedNamingItsHolder) {
  sprocket::testing::TestDir dir("data-dir");
  // Another open file description of the same file: flock conflicts within one process too.
  int holder = ::open((dir.path() / "serve.lock").c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_EQ(::flock(holder, LOCK_EX | LOCK_NB), 0);
  std::vector<std::string> said;
  auto started = std::chrono::steady_clock::now();
  auto lock = DataDirLock::acquire(dir.path(), 200ms, [&](const std::string& why) { said.push_back(why); });
  ASSERT_FALSE(lock);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
  EXPECT_NE(lock.error().find(fmt::format("another sprocket server (pid {} (", ::getpid())), std::string::npos) << lock.error();
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("waiting up to"), std::string::npos) << said[0];

  // Released within the patience: taken.
  std::thread release([&] {
    std::this_thread::sleep_for(100ms);  // the holder lets go a moment later, as a dying process does
    ::close(holder);
  });
  auto taken = DataDirLock::acquire(dir.path(), 5s, nullptr);
  release.join();
  EXPECT_TRUE(taken) << (taken ? "" : taken.error());
}

}  // namespace
}  // namespace sprocket::cli
