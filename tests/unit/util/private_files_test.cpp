#include "util/private_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_dir.h"

namespace sprocket::util {
namespace {
namespace fs = std::filesystem;

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// The umask of the whole test process, restored at the end.
class Umask {
 public:
  explicit Umask(mode_t mask) : previous_(::umask(mask)) {}
  ~Umask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

TEST(PrivateFilesTest, WhatItCreatesIsPrivateWhateverTheUmask) {
  sprocket::testing::TestDir dir("private-files");
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    Umask umask(mask);
    fs::path top = dir.path() / ("m" + std::to_string(mask));
    std::error_code ec;
    create_private_directories(top / "a" / "b", ec);
    ASSERT_FALSE(ec) << ec.message();
    for (const auto& p : {top, top / "a", top / "a" / "b"}) EXPECT_EQ(mode_of(p), 0700u) << p << " umask " << mask;
    auto fd = open_private_file(top / "f", O_RDWR);
    ASSERT_TRUE(fd.valid());
    EXPECT_EQ(mode_of(top / "f"), 0600u) << "umask " << mask;
  }
}

TEST(PrivateFilesTest, AnExistingFolderIsLeftAsItIsAndAnExistingFileOpened) {
  sprocket::testing::TestDir dir("private-files");
  fs::path existing = dir.path() / "existing";
  fs::create_directory(existing);
  ::chmod(existing.c_str(), 0755);
  std::error_code ec;
  create_private_directories(existing, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(mode_of(existing), 0755u) << "narrowing is tighten_permissions' job, and said in the log";
  {
    auto fd = open_private_file(existing / "f", O_RDWR);
    ASSERT_TRUE(fd.valid());
  }
  auto again = open_private_file(existing / "f", O_RDWR);
  EXPECT_TRUE(again.valid());
  EXPECT_FALSE(open_private_file(existing / "f", O_RDWR | O_EXCL).valid());
}

TEST(PrivateFilesTest, TightenNarrowsOnlyWhatGroupOrOthersMayUseAndSaysWhatItWas) {
  sprocket::testing::TestDir dir("private-files");
  fs::path file = dir.path() / "db";
  { auto fd = open_private_file(file, O_RDWR); }
  std::error_code ec;
  EXPECT_FALSE(tighten_permissions(file, 0600, ec)) << "already private";
  ::chmod(file.c_str(), 0644);
  auto was = tighten_permissions(file, 0600, ec);
  ASSERT_TRUE(was);
  EXPECT_EQ(mode_text(*was), "0644");
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_FALSE(tighten_permissions(dir.path() / "missing", 0600, ec));
  EXPECT_FALSE(ec) << "a file that is not there is not an error";
}

std::string contents_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The admin token and the secret key are made this way: a kill -9 between creating the file and
// writing it used to leave an empty one, which the next start could not use.
TEST(PrivateFilesTest, AWholeFileIsCreatedOnceAndNoTemporaryStays) {
  sprocket::testing::TestDir dir("private-files");
  Umask umask(0);
  fs::path key = dir.path() / "key";
  ASSERT_TRUE(create_whole_private_file(key, std::string("k\0y", 3)));
  EXPECT_EQ(contents_of(key), std::string("k\0y", 3));
  EXPECT_EQ(mode_of(key), 0600u);
  errno = 0;
  EXPECT_FALSE(create_whole_private_file(key, "other")) << "the first one made stays";
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(contents_of(key), std::string("k\0y", 3));
  // A temporary that a crashed process of the same pid left is written over.
  fs::path token = dir.path() / "token";
  std::ofstream(token.string() + ".partial-" + std::to_string(::getpid())) << "half";
  ASSERT_TRUE(create_whole_private_file(token, "spk_1\n"));
  EXPECT_EQ(contents_of(token), "spk_1\n");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"key", "token"}));
}

// A kill -9 inside create_whole_private_file leaves FILE.partial-PID, which may hold a key or a
// token: the next start removes those of processes that are gone, and no other.
TEST(PrivateFilesTest, PartialFilesOfProcessesThatAreGoneAreRemoved) {
  sprocket::testing::TestDir dir("private-partials");
  pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ASSERT_GT(gone, 0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  auto touch = [&](const std::string& name) { std::ofstream(dir.path() / name) << "secret"; };
  std::string dead = "secret.key.partial-" + std::to_string(gone);
  std::string mine = "admin.token.partial-" + std::to_string(::getpid());
  touch(dead);
  touch(mine);                       // this process may be writing it
  touch("admin.token.partial-1");    // pid 1 runs
  touch("notes.partial-draft");      // not one of ours
  touch("admin.token");
  EXPECT_EQ(remove_abandoned_partial_files(dir.path()), std::vector<std::string>{dead});
  EXPECT_FALSE(fs::exists(dir.path() / dead));
  for (const char* kept : {"admin.token.partial-1", "notes.partial-draft", "admin.token"}) EXPECT_TRUE(fs::exists(dir.path() / kept)) << kept;
  EXPECT_TRUE(fs::exists(dir.path() / mine));
}

}  // namespace
}  // namespace sprocket::util
