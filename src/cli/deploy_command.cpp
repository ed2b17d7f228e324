#include "cli/deploy_command.h"

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "cli/admin_client.h"
#include "cli/dependency_progress.h"
#include "config/catalog.h"
#include "deploy/archive.h"

namespace sprocket::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string deployment_name(const DeployOptions& o, const fs::path& folder) {
  if (!o.name.empty()) return o.name;
  std::ifstream in(folder / "hsproject.json");
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto v = json::parse(text.str(), ec);
    if (!ec && v.is_object()) {
      if (auto* n = v.get_object().if_contains("name"); n && n->is_string() && !n->get_string().empty()) {
        return std::string(n->get_string());
      }
    }
  }
  return folder.filename().string();
}

Expected<AdminEndpoint, std::string> endpoint_for(const DeployOptions& o) {
  return admin_endpoint(o.server, o.data_dir);
}

// Names this upload for the node: a retry with the same id is answered as the deploy that
// committed was, so that a broken connection never makes the same upload deploy twice.
std::string new_deploy_id() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) id += fmt::format("{:08x}", random());
  return id;
}

// Waits between attempts after a broken connection: a node restarting (kill -9, a supervisor
// bringing it back) gets a few seconds.
constexpr std::chrono::milliseconds kRetryDelays[] = {std::chrono::milliseconds(250), std::chrono::milliseconds(750),
                                                      std::chrono::milliseconds(2000)};

}  // namespace

int run_deploy(const DeployOptions& o) {
  // What the node would refuse for want of functions is said here, naming the folder as given.
  if (auto found = config::discover_functions_folders({fs::path(o.path)}); !found) {
    fmt::print(stderr, "{}\nsprocket: nothing was deployed\n", config::format_errors(found.error()));
    return 2;
  }
  std::error_code ec;
  fs::path folder = fs::weakly_canonical(fs::absolute(o.path), ec);
  auto archive = deploy::pack_folder(folder);
  if (!archive) {
    fmt::print(stderr, "sprocket: {}\n", archive.error());
    return 2;
  }
  auto endpoint = endpoint_for(o);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  std::string name = deployment_name(o, folder);
  const std::string deploy_id = o.deploy_id.empty() ? new_deploy_id() : o.deploy_id;
  const std::string target = fmt::format("/api/v1/deployments?account={}&name={}&message={}&deployId={}", o.account_id,
                                         url_encode(name), url_encode(o.message), url_encode(deploy_id));
  // The node validates the upload and runs npm install before it answers: seconds to minutes.
  ProgressLine progress(fmt::format("deploying {} to {} (the node validates it and installs its dependencies)", name, o.server));
  auto reply = admin_exchange(*endpoint, "POST", target, *archive, "application/octet-stream");
  bool maybe_received = !reply && reply.error().maybe_received;
  // A node that was not reached at all did nothing: say so now. Once it may have received the
  // upload, retries with the same id are safe and tell what happened.
  for (auto delay : kRetryDelays) {
    if (reply || !maybe_received) break;
    fmt::print(stderr, "sprocket: {}; trying again with the same deploy id\n", reply.error().message);
    std::this_thread::sleep_for(delay);
    reply = admin_exchange(*endpoint, "POST", target, *archive, "application/octet-stream");
    maybe_received = maybe_received || (!reply && reply.error().maybe_received);
  }
  progress.finish(!reply ? std::string("no answer") : reply->status == 201 ? std::string("done") : std::string("refused"));
  if (!reply) {
    fmt::print(stderr, "sprocket: {}\n", reply.error().message);
    if (!maybe_received) {
      fmt::print(stderr, "sprocket: the node was not reached; nothing was deployed\n");
      return 1;
    }
    // The node may have committed the deploy before the connection broke: say so, and how to
    // find out, rather than call it a failure.
    fmt::print(stderr,
               "sprocket: the outcome of this deploy is unknown: the node may have committed it before the connection broke.\n"
               "Check with `sprocket versions --server {} --account {}`, or run the same deploy again with --deploy-id {}: "
               "if it was committed the node answers with its version and deploys nothing twice.\n",
               o.server, o.account_id, deploy_id);
    return 3;
  }
  if (reply->status != 201) {
    fmt::print(stderr, "{}\nsprocket: the deploy of {} was refused; what was serving keeps serving\n", error_message(*reply), o.path);
    return 1;
  }
  auto body = json::parse(reply->body).as_object();
  if (o.json) {
    // The node's answer (version, name, accountId, functions…), with the deploy id that retries it.
    body["deployId"] = deploy_id;
    fmt::print("{}\n", json::serialize(body));
    return 0;
  }
  const auto* replayed = body.if_contains("replayed");
  if (replayed && replayed->is_bool() && replayed->as_bool()) {
    fmt::print("Deployed {} as version {} to account {} (deploy {} was committed before; nothing was deployed twice)\n", name,
               body.at("version").as_int64(), o.account_id, deploy_id);
  } else {
    fmt::print("Deployed {} as version {} to account {}\n", name, body.at("version").as_int64(), o.account_id);
  }
  for (const auto& f : body.at("functions").as_array()) {
    const auto& fo = f.as_object();
    const auto& route = fo.at("route");
    fmt::print("  {}  {}\n", route.is_string() ? std::string_view(route.as_string()) : std::string_view("(app function)"),
               std::string_view(fo.at("name").as_string()));
  }
  if (const auto* actions = body.if_contains("actions"); actions && actions->is_array()) {
    for (const auto& a : actions->as_array()) fmt::print("  action  {}\n", std::string_view(a.as_string()));
  }
  for (const auto& s : body.at("shadowed").as_array()) fmt::print("  shadows: {}\n", std::string_view(s.as_string()));
  for (const auto& w : body.at("warnings").as_array()) fmt::print(stderr, "{}\n", std::string_view(w.as_string()));
  return 0;
}

int run_versions(const DeployOptions& o) {
  auto endpoint = endpoint_for(o);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  auto reply = admin_request(*endpoint, "GET", fmt::format("/api/v1/deployments?account={}", o.account_id));
  if (!reply || reply->status != 200) {
    fmt::print(stderr, "sprocket: {}\n", reply ? error_message(*reply) : reply.error());
    return 1;
  }
  json::value body = json::parse(reply->body);
  if (o.json) {
    fmt::print("{}\n", json::serialize(body.at("versions")));
    return 0;
  }
  for (const auto& v : body.at("versions").as_array()) {
    const auto& vo = v.as_object();
    fmt::print("{}\t{}\t{}\t{}\t{}\n", vo.at("version").as_int64(), vo.at("active").as_bool() ? "active" : "",
               std::string_view(vo.at("createdAt").as_string()), std::string_view(vo.at("name").as_string()),
               std::string_view(vo.at("message").as_string()));
  }
  return 0;
}

int run_rollback(const DeployOptions& o) {
  auto endpoint = endpoint_for(o);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  std::string target = fmt::format("/api/v1/deployments/rollback?account={}", o.account_id);
  if (o.version) target += fmt::format("&version={}", *o.version);
  auto reply = admin_request(*endpoint, "POST", target);
  if (!reply || reply->status != 200) {
    fmt::print(stderr, "sprocket: {}\n", reply ? error_message(*reply) : reply.error());
    return 1;
  }
  json::value body = json::parse(reply->body);
  fmt::print("Rolled {} back to version {}\n", std::string_view(body.at("name").as_string()), body.at("version").as_int64());
  return 0;
}

}  // namespace sprocket::cli
