#include "actions/action_worker.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "runtime/frame_codec.h"
#include "util/request_id.h"

namespace sprocket::actions {
namespace json = boost::json;

runtime::WorkerRecipe action_worker_recipe(const config::ActionSpec& action, const runtime::RuntimeSettings& settings,
                                           const runtime::ExposedSecrets& secrets, bool network) {
  config::FunctionSpec spec;
  spec.name = action.name;
  spec.file = action.file;
  spec.folder = action.folder;
  accounts::AccountLimits limits;
  limits.memory_mb = kActionMemoryMb;
  auto recipe = runtime::node_worker_recipe(spec, settings, limits, secrets);
  // Actions get the reference's libraries for actions (guest/node-actions), not the functions'
  // preloaded set: the list differs, and so does @hubspot/api-client's major.
  recipe.image.packages = runtime::PreloadedPackages::Actions;
  recipe.image.network = network;
  if (action.language == config::ActionLanguage::Python) {
    // The same frames and load message, to the Python bootstrap.
    recipe.image.runtime = runtime::WorkerRuntime::Python;
    recipe.wants_preloaded = false;
  }
  return recipe;
}

json::object make_event(const json::object& given, std::int64_t portal_id, const std::string& callback_id) {
  json::object event{{"origin", {{"portalId", portal_id}, {"actionDefinitionId", 1}}},
                     {"object", {{"objectType", "CONTACT"}, {"objectId", 1}}},
                     {"inputFields", json::object{}}};
  for (const auto& [key, value] : given) {
    if (key == "origin" && value.is_object()) {
      for (const auto& [k, v] : value.get_object()) event["origin"].as_object()[k] = v;
    } else if (key != "origin") {
      event[key] = value;
    }
  }
  // The portal is the account the execution runs in, and the callbackId is unique per
  // execution, whatever the caller sent.
  event["origin"].as_object()["portalId"] = portal_id;
  event["callbackId"] = callback_id;
  return event;
}

std::string new_callback_id() {
  static util::RequestIdGenerator ids;
  return "ap-" + ids.next();
}

std::string invoke_frame(const json::object& event, std::uint64_t invocation_id) {
  std::string frame = runtime::begin_frame();
  frame += json::serialize(json::object{{"type", "invoke"}, {"id", invocation_id}, {"mode", "action"}, {"event", event}});
  runtime::finish_frame(frame);
  return frame;
}


}  // namespace sprocket::actions
