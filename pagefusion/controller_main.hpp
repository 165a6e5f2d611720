#pragma once
// The host's page-fusion controller as a process: `vboxmanage __pagefusiond [--permanent]
// [--connect URI]` (pagefusion/daemon.cpp is its loop, pagefusion/controller.cpp the
// decisions). One per host, guarded by a flock on /run/vboxkvm/pagefusiond.lock, which also
// holds its PID. Started by `startvm` for a page-fusion guest, by `pagefusion manage on` and
// by any vboxmanage run that finds KSM abandoned by a killed controller (ensure_controller);
// exits once no page-fusion guest runs and KSM is given back. With `--permanent` (the systemd
// unit) it stays, waiting for the next guest, until SIGTERM.

#include "sys/daemon.hpp"

#include <span>
#include <string>

namespace vbm::pagefusion {

/// The process. Returns its exit code. Throws vbm::Error (bad arguments).
int controller_main(std::span<const std::string> argv, const sys::Daemon::Hooks& hooks);

} // namespace vbm::pagefusion
