// Image commands: pull, images, inspecti, rmi, imagefsinfo.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tetherctl/commands.h"
#include "tetherctl/config_file.h"
#include "tetherctl/image_output.h"
#include "tetherctl/output.h"

namespace tether::ctl {

using ImageStub = runtime::v1::ImageService::StubInterface;
using RuntimeStub = runtime::v1::RuntimeService::StubInterface;

absl::StatusOr<runtime::v1::ImageStatusResponse> GetImageStatus(CommandEnv& env,
                                                                const std::string& image,
                                                                bool verbose) {
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  request.set_verbose(verbose);
  return CallImage(env, &ImageStub::ImageStatus, request,
                   absl::StrCat("image status for \"", image, "\" request"));
}

absl::StatusOr<std::string> PullImage(CommandEnv& env, const runtime::v1::PullImageRequest& request,
                                      absl::Duration timeout) {
  auto response = CallImage(env, &ImageStub::PullImage, request, "pulling image",
                            timeout > absl::ZeroDuration() ? timeout : kNoDeadline);
  if (!response.ok()) return response.status();
  return response->image_ref();
}

namespace {

// --- pull -----------------------------------------------------------------------------------

struct PullOptions {
  std::string image;
  std::string creds;
  std::string auth;
  std::string pod_config;
  std::vector<std::string> annotations;
  std::string pull_timeout;
};

absl::Status Pull(CommandEnv& env, const PullOptions& options) {
  if (options.image.empty()) return absl::InvalidArgumentError("image name cannot be empty");
  auto auth = ParseAuth(options.creds, options.auth);
  if (!auth.ok()) return auth.status();
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(options.image);
  auto annotations = ParseLabels(options.annotations);
  if (!annotations.ok()) return annotations.status();
  request.mutable_image()->mutable_annotations()->insert(annotations->begin(), annotations->end());
  if (*auth) *request.mutable_auth() = **auth;
  if (!options.pod_config.empty()) {
    auto config = LoadPodSandboxConfig(options.pod_config);
    if (!config.ok()) {
      return absl::Status(config.status().code(),
                          absl::StrCat("load podSandboxConfig: ", config.status().message()));
    }
    *request.mutable_sandbox_config() = *std::move(config);
  }
  absl::Duration timeout = absl::ZeroDuration();
  if (!options.pull_timeout.empty() &&
      (!absl::ParseDuration(options.pull_timeout, &timeout) || timeout < absl::ZeroDuration())) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --pull-timeout \"", options.pull_timeout,
                     "\": use a non-negative duration such as 5m (0s: no limit)"));
  }
  auto ref = PullImage(env, request, timeout);
  if (!ref.ok()) return ref.status();
  env.out() << "Image is up to date for " << *ref << "\n";
  return absl::OkStatus();
}

// --- images ---------------------------------------------------------------------------------

absl::StatusOr<std::vector<runtime::v1::Image>> ListImages(
    CommandEnv& env, const std::string& name, const std::vector<std::string>& filters) {
  runtime::v1::ListImagesRequest request;
  request.mutable_filter()->mutable_image()->set_image(name);
  auto response = CallImage(env, &ImageStub::ListImages, request, "listing images");
  if (!response.ok()) return response.status();
  std::vector<runtime::v1::Image> images(response->images().begin(), response->images().end());
  SortImages(images);
  if (filters.empty() || images.empty()) return images;
  return FilterImages(std::move(images), filters);
}

struct ImagesOptions {
  std::string name;
  std::vector<std::string> filters;
  std::string output;
  ImagesTableOptions table;
};

absl::Status Images(CommandEnv& env, const ImagesOptions& options) {
  auto images = ListImages(env, options.name, options.filters);
  if (!images.ok()) return images.status();
  if (options.output == kOutputJson || options.output == kOutputYaml) {
    runtime::v1::ListImagesResponse list;
    for (auto& image : *images) *list.add_images() = std::move(image);
    return PrintMessage(env, list, options.output);
  }
  env.out() << ImagesTable(*images, options.table);
  return absl::OkStatus();
}

// --- inspecti -------------------------------------------------------------------------------

struct InspectiOptions {
  std::vector<std::string> ids;
  std::string output = std::string(kOutputJson);
  bool quiet = false;
  std::string name;
  std::vector<std::string> filters;
};

absl::Status Inspecti(CommandEnv& env, const InspectiOptions& options) {
  std::vector<std::string> ids = options.ids;
  if (ids.empty()) {
    auto images = ListImages(env, options.name, options.filters);
    if (!images.ok()) return images.status();
    for (const auto& image : *images) ids.push_back(image.id());
  }
  if (ids.empty()) return absl::InvalidArgumentError("No IDs provided or nothing found per filter");

  const bool verbose = !options.quiet;
  std::vector<nlohmann::json> entries;
  for (const std::string& id : ids) {
    auto response = GetImageStatus(env, id, verbose);
    if (!response.ok()) return response.status();
    if (!response->has_image()) {
      return absl::NotFoundError(absl::StrCat("no such image \"", id, "\" present"));
    }
    if (options.output == kOutputTable) {
      env.out() << ImageStatusTable(*response, verbose);
      continue;
    }
    auto status = ProtoToJsonValue(response->image());
    if (!status.ok()) return status.status();
    auto entry = StatusEntry(
        nlohmann::json::parse(status->dump()), nullptr,
        std::map<std::string, std::string>(response->info().begin(), response->info().end()));
    if (!entry.ok()) return entry.status();
    entries.push_back(*std::move(entry));
  }
  if (options.output == kOutputTable) return absl::OkStatus();
  return PrintStatusEntries(env, entries, options.output);
}

// --- rmi ------------------------------------------------------------------------------------

struct RmiOptions {
  std::vector<std::string> ids;
  bool all = false;
  bool prune = false;
};

absl::Status RemoveOneImage(CommandEnv& env, const std::string& id, bool prune) {
  auto status = GetImageStatus(env, id, false);
  if (!status.ok()) {
    return absl::Status(
        status.status().code(),
        absl::StrCat("image status request for \"", id, "\" failed: ", status.status().message()));
  }
  if (!status->has_image()) return absl::NotFoundError(absl::StrCat("no such image ", id));
  runtime::v1::RemoveImageRequest request;
  request.mutable_image()->set_image(id);
  auto removed = CallImage(env, &ImageStub::RemoveImage, request,
                           absl::StrCat("error of removing image \"", id, "\""));
  if (!removed.ok()) {
    // On prune an image may go away or come into use meanwhile; crictl ignores that.
    return prune ? absl::OkStatus() : removed.status();
  }
  const auto& image = status->image();
  // Images pulled by digest have no tags: their digests stand for them.
  for (const auto& name : image.repo_tags().empty() ? image.repo_digests() : image.repo_tags()) {
    env.out() << "Deleted: " << name << "\n";
  }
  return absl::OkStatus();
}

absl::Status Rmi(CommandEnv& env, const RmiOptions& options) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  auto add = [&](const std::string& id) {
    if (seen.insert(id).second) ids.push_back(id);
  };
  for (const auto& id : options.ids) add(id);
  if (options.all || options.prune) {
    auto response =
        CallImage(env, &ImageStub::ListImages, runtime::v1::ListImagesRequest(), "listing images");
    if (!response.ok()) return response.status();
    for (const auto& image : response->images()) {
      if (options.prune && image.pinned()) continue;  // pinned images stay on prune
      add(image.id());
    }
  }
  if (options.prune) {
    // Keep every image a container (in any state) uses.
    auto containers = CallRuntime(env, &RuntimeStub::ListContainers,
                                  runtime::v1::ListContainersRequest(), "listing containers");
    if (!containers.ok()) return containers.status();
    std::set<std::string> in_use;
    std::map<std::string, std::string> resolved;  // container image -> image id
    for (const auto& container : containers->containers()) {
      const std::string& image = container.image().image();
      if (!resolved.contains(image)) {
        auto status = GetImageStatus(env, image, false);
        if (!status.ok()) {
          env.err() << "tetherctl: image status request for \"" << image
                    << "\" failed: " << status.status().message() << "\n";
          continue;
        }
        resolved[image] = status->image().id();
      }
      in_use.insert(resolved[image]);
    }
    std::erase_if(ids, [&in_use](const std::string& id) { return in_use.contains(id); });
  }
  if (ids.empty()) {
    if (options.all || options.prune) {
      env.err() << "No images to remove\n";
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError("rmi: give IMAGE-ID... or --all / --prune");
  }
  // Every image is tried; each failure is reported, and any makes the exit code 1.
  for (const std::string& id : ids) {
    if (absl::Status s = RemoveOneImage(env, id, options.prune); !s.ok()) env.ReportError(s);
  }
  return absl::OkStatus();
}

// --- imagefsinfo ----------------------------------------------------------------------------

absl::Status ImageFsInfo(CommandEnv& env, const std::string& output) {
  auto response = CallImage(env, &ImageStub::ImageFsInfo, runtime::v1::ImageFsInfoRequest(),
                            "image filesystem info request");
  if (!response.ok()) return response.status();
  if (output == kOutputTable) {
    env.out() << ImageFsInfoTable(*response);
    return absl::OkStatus();
  }
  auto status = ProtoToJsonValue(*response);
  if (!status.ok()) return status.status();
  auto entry = StatusEntry(nlohmann::json::parse(status->dump()), nullptr, {});
  if (!entry.ok()) return entry.status();
  return PrintStatusEntries(env, {*entry}, output);
}

}  // namespace

void RegisterImageCommands(CLI::App& app, CommandEnv& env) {
  // pull
  auto pull_options = std::make_shared<PullOptions>();
  CLI::App* pull = app.add_subcommand("pull", "Pull an image from a registry");
  pull->add_option("NAME[:TAG|@DIGEST]", pull_options->image, "Image to pull")->required();
  pull->add_option("--creds", pull_options->creds,
                   "Use USERNAME[:PASSWORD] for accessing the registry");
  pull->add_option("--auth", pull_options->auth,
                   "Use AUTH_STRING for accessing the registry. AUTH_STRING is a base64 encoded "
                   "'USERNAME[:PASSWORD]'");
  pull->add_option("--pod-config", pull_options->pod_config,
                   "Use pod-config.[json|yaml] to override the pull context");
  pull->add_option("-a,--annotation", pull_options->annotations,
                   "Annotation key=value to be set on the pulled image (repeatable)")
      ->allow_extra_args(false);
  pull->add_option("--pull-timeout,--pt", pull_options->pull_timeout,
                   "Maximum time to be used for pulling the image, disabled if set to 0s");
  pull->callback([&env, pull_options] { env.Run([&] { return Pull(env, *pull_options); }); });

  // images
  auto images_options = std::make_shared<ImagesOptions>();
  CLI::App* images = app.add_subcommand("images", "List images");
  images->alias("image");
  images->alias("img");
  images->add_option("REPOSITORY[:TAG]", images_options->name, "Only images of this name");
  images->add_flag("-v,--verbose", images_options->table.verbose, "Show verbose info for images");
  images->add_flag("-q,--quiet", images_options->table.quiet, "Only show image IDs");
  images
      ->add_option("-f,--filter", images_options->filters,
                   "Filter output: dangling=true|false, reference=/regexp/, "
                   "before=<image[:tag]|id|image@digest>, since=<...> (repeatable)")
      ->allow_extra_args(false);
  images
      ->add_option("-o,--output", images_options->output, "Output format, one of: json|yaml|table")
      ->check(CLI::IsMember(OutputFormats()));
  images->add_flag("--digests", images_options->table.digests, "Show digests");
  images->add_flag("--no-trunc", images_options->table.no_trunc,
                   "Show output without truncating the ID");
  images->add_flag("--pinned", images_options->table.pinned,
                   "Show whether the image is pinned or not");
  images->callback(
      [&env, images_options] { env.Run([&] { return Images(env, *images_options); }); });

  // inspecti
  auto inspecti_options = std::make_shared<InspectiOptions>();
  CLI::App* inspecti = app.add_subcommand(
      "inspecti", "Return the status of one or more images (all matching the filters if no ID)");
  inspecti->add_option("IMAGE-ID", inspecti_options->ids, "Image ids, references or id prefixes");
  inspecti
      ->add_option("-o,--output", inspecti_options->output,
                   "Output format, one of: json|yaml|table")
      ->check(CLI::IsMember(OutputFormats()))
      ->capture_default_str();
  inspecti->add_flag("-q,--quiet", inspecti_options->quiet, "Do not show verbose information");
  inspecti->add_option("--name", inspecti_options->name, "Filter by image name");
  inspecti->add_option("-f,--filter", inspecti_options->filters, "Filter output (as images -f)")
      ->allow_extra_args(false);
  inspecti->callback(
      [&env, inspecti_options] { env.Run([&] { return Inspecti(env, *inspecti_options); }); });

  // rmi
  auto rmi_options = std::make_shared<RmiOptions>();
  CLI::App* rmi = app.add_subcommand("rmi", "Remove one or more images");
  rmi->add_option("IMAGE-ID", rmi_options->ids, "Image ids, references or id prefixes");
  rmi->add_flag("-a,--all", rmi_options->all, "Remove all images");
  rmi->add_flag("-q,--prune", rmi_options->prune,
                "Remove all unused images (not used by any container, not pinned)");
  rmi->callback([&env, rmi_options] { env.Run([&] { return Rmi(env, *rmi_options); }); });

  // imagefsinfo
  auto fs_output = std::make_shared<std::string>(kOutputJson);
  CLI::App* imagefsinfo = app.add_subcommand("imagefsinfo", "Return image filesystem info");
  imagefsinfo->add_option("-o,--output", *fs_output, "Output format, one of: json|yaml|table")
      ->check(CLI::IsMember(OutputFormats()))
      ->capture_default_str();
  imagefsinfo->callback(
      [&env, fs_output] { env.Run([&] { return ImageFsInfo(env, *fs_output); }); });
}

}  // namespace tether::ctl
