// The hidden `__pagefusiond`: the host's page-fusion controller as a process
// (pagefusion/daemon.cpp is the loop, pagefusion/controller.cpp the decisions). One per host,
// guarded by a flock on /run/vboxkvm/pagefusiond.lock, which also holds its PID. Started by
// `startvm` for a page-fusion guest and by `pagefusion manage on` (main.cpp's
// ensure_pagefusiond); exits once no page-fusion guest runs and KSM is given back. With
// `--permanent` (the systemd unit) it stays, waiting for the next guest, until SIGTERM.

#include "backend/ksm.hpp"
#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/lock_file.hpp"
#include "cli/vm_state.hpp"
#include "pagefusion/daemon.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

namespace vbm::cli {

namespace {
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
      throw CommandError(fmt::format("__pagefusiond: unknown argument '{}'", args[i]),
                         k_exit_syntax);
    }
  }
  return a;
}
} // namespace

int run_pagefusiond(std::span<const std::string> argv, Output& out, Services& services) {
  Args args = parse(argv);
  auto paths = pagefusion::host_paths();
  std::error_code ec;
  std::filesystem::create_directories(paths.run_dir, ec);
  chmod(paths.run_dir.c_str(), 0755); // `pagefusion status` reads the state file as any user
  // Readable by all: `pagefusion status` tells any user whether a controller runs (flock).
  LockFile lock(paths.lock().string(), 0644);
  if (!lock.lock(args.permanent)) {
    return k_exit_success; // another controller steers this host's KSM
  }
  // The log (our stderr, appended to by each controller) is kept short: a new controller
  // starts it again once it passes 1 MiB.
  if (struct stat st{};
      fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (1 << 20)) {
    if (ftruncate(STDERR_FILENO, 0) != 0) {
      // keep appending
    }
  }
  auto log = [&](const std::string& msg) {
    out.err(fmt::format("{} pagefusiond[{}]: {}\n",
                        format_state_time(services.now_ms()).substr(0, 23), getpid(), msg));
  };
  backend::Ksm ksm;
  if (!ksm.available()) {
    log("this kernel has no KSM (/sys/kernel/mm/ksm): there is nothing to steer");
    return k_exit_failure;
  }
  if (access("/sys/kernel/mm/ksm/run", W_OK) != 0) {
    log("cannot write /sys/kernel/mm/ksm: steering KSM needs root");
    return k_exit_failure;
  }
  log(fmt::format("started{}", args.permanent ? " (permanent)" : ""));
  pagefusion::Daemon daemon(ksm, paths,
                            {[&] { return backend::open_hypervisor(args.uri, false, true); },
                             services.now_ms, services.sleep_ms, log},
                            args.permanent);
  int rc = k_exit_success;
  std::string why = "the controller stopped (SIGTERM)";
  try {
    while (!services.stop_requested()) {
      if (daemon.turn()) {
        continue;
      }
      // Nothing left to do. Release the lock first, then look again: a guest started before
      // this look is seen here; one started after it finds the lock free and starts a new
      // controller.
      lock.unlock();
      bool again = false;
      if (daemon.connected() && pagefusion::read_settings(paths.settings()).manage_ksm) {
        daemon.resync();
        again = !daemon.controller().guests().empty();
      }
      if (!again || !lock.lock(false)) {
        why.clear();
        break;
      }
    }
    if (!why.empty()) {
      daemon.stop(why);
    }
  } catch (const std::exception& e) {
    log(e.what());
    rc = k_exit_failure;
    try {
      daemon.stop("the controller failed");
    } catch (const std::exception& e2) {
      log(fmt::format("could not give KSM back: {} (`vboxmanage pagefusion manage off` retries)",
                      e2.what()));
    }
  }
  log("stopped");
  return rc;
}

} // namespace vbm::cli
