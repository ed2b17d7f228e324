#include "config/catalog.h"

#include <gtest/gtest.h>

#include "test_dir.h"

#include <filesystem>
#include <fstream>

using namespace sprocket::config;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

class CatalogTest : public ::testing::Test {
 protected:
  sprocket::testing::TestDir dir_{"catalog"};
  fs::path root_ = dir_.path();
};

}  // namespace

TEST_F(CatalogTest, FindsFoldersAndProjectsUnderAParent) {
  write(root_ / "site.functions/serverless.json", R"({"endpoints": {"hello": {"file": "h.js"}}})");
  write(root_ / "site.functions/h.js", "");
  write(root_ / "site.functions/.env", "S=1\n");
  write(root_ / "proj/hsproject.json", R"({"name": "my-proj", "srcDir": "src"})");
  write(root_ / "proj/src/app/app.functions/serverless.json",
        R"({"appFunctions": {"q": {"file": "q.js", "endpoint": {"path": "q", "method": "GET"}}}})");
  write(root_ / "proj/src/app/app.functions/q.js", "");
  write(root_ / "proj/node_modules/x.functions/serverless.json", "not even json");
  auto catalog = load_catalog({root_});
  ASSERT_TRUE(catalog.has_value()) << format_errors(catalog.error());
  ASSERT_EQ(catalog->functions.size(), 2u);
  EXPECT_EQ(catalog->functions[0].project_name, "my-proj");
  EXPECT_EQ(*catalog->functions[0].route, "/hs/serverless/q");
  EXPECT_EQ(catalog->dotenv_by_folder.at(root_ / "site.functions").at("S"), "1");
}

TEST_F(CatalogTest, TwoFunctionsOnOnePathAreRejectedNamingBoth) {
  write(root_ / "a.functions/serverless.json", R"({"endpoints": {"x": {"file": "x.js"}}})");
  write(root_ / "a.functions/x.js", "");
  write(root_ / "b.functions/serverless.json", "{\n\"endpoints\": {\"x\": {\"file\": \"x.js\", \"method\": \"POST\"}}}");
  write(root_ / "b.functions/x.js", "");
  auto catalog = load_catalog({root_});
  ASSERT_FALSE(catalog.has_value());
  std::string text = format_errors(catalog.error());
  EXPECT_NE(text.find("b.functions/serverless.json:2:15"), std::string::npos) << text;
  EXPECT_NE(text.find("a.functions/serverless.json"), std::string::npos) << text;
}

TEST_F(CatalogTest, MissingPathAndEmptyFolderAreErrors) {
  EXPECT_FALSE(load_catalog({root_ / "nope"}).has_value());
  fs::create_directories(root_ / "empty");
  auto catalog = load_catalog({root_ / "empty"});
  ASSERT_FALSE(catalog.has_value());
  EXPECT_NE(format_errors(catalog.error()).find("no serverless functions (serverless.json) or workflow actions (actions.json) found"), std::string::npos);
}
