#include "pagefusion/controller_main.hpp"

#include "backend/ksm.hpp"
#include "pagefusion/daemon.hpp"
#include "pagefusion/status.hpp"

#include <fmt/format.h>

#include <optional>
#include <unistd.h>

namespace vbm::pagefusion {

namespace {
constexpr int k_exit_syntax = 2;

struct Args {
  bool permanent = false;
  std::optional<std::string> uri;
};

Args parse(std::span<const std::string> args) {
  Args a;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--permanent") {
      a.permanent = true;
    } else if ((args[i] == "--connect" || args[i] == "-c") && i + 1 < args.size()) {
      a.uri = args[++i];
    } else {
      throw Error(fmt::format("__pagefusiond: unknown argument '{}'", args[i]), k_exit_syntax);
    }
  }
  return a;
}
} // namespace

int controller_main(std::span<const std::string> argv, const sys::Daemon::Hooks& hooks) {
  Args args = parse(argv);
  auto paths = host_paths();
  prepare_host_dir(paths.run_dir, "vboxkvm run directory");
  sys::Daemon process("pagefusiond", controller_files(paths), hooks);
  if (!process.acquire(args.permanent)) {
    return 0; // another controller steers this host's KSM
  }
  auto log = [&](const std::string& msg) { process.log(msg); };
  backend::Ksm ksm;
  if (!ksm.available()) {
    log("this kernel has no KSM (/sys/kernel/mm/ksm): there is nothing to steer");
    return 1;
  }
  if (access("/sys/kernel/mm/ksm/run", W_OK) != 0) {
    log("cannot write /sys/kernel/mm/ksm: steering KSM needs root");
    return 1;
  }
  log(fmt::format("started{}", args.permanent ? " (permanent)" : ""));
  Daemon daemon(ksm, paths,
                {[&] { return backend::open_hypervisor(args.uri, false, true); }, hooks.now_ms,
                 hooks.sleep_ms, log},
                args.permanent);
  sys::Daemon::Loop loop{[&] { return daemon.turn(); },
                         [&] {
                           // The lock is released: a page-fusion guest started before this look is
                           // seen here; one started after it finds the lock free and starts a new
                           // controller.
                           if (!daemon.connected() || !read_settings(paths.settings()).manage_ksm) {
                             return false;
                           }
                           daemon.resync();
                           return !daemon.controller().guests().empty();
                         },
                         [] { return std::string(); }};
  try {
    if (process.run(loop, args.permanent) == sys::Daemon::End::Idle) {
      return 0; // KSM is given back already
    }
    daemon.stop("the controller stopped (signal)");
  } catch (const std::exception& e) {
    log(e.what());
    try {
      daemon.stop("the controller failed");
    } catch (const std::exception& e2) {
      log(fmt::format("could not give KSM back: {} (`vboxmanage pagefusion manage off` retries)",
                      e2.what()));
    }
    return 1;
  }
  return 0;
}

} // namespace vbm::pagefusion
