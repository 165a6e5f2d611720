#pragma once
// How vboxmanage ends on Ctrl-C, kill and a closed terminal (SIGINT, SIGTERM, SIGHUP): the way
// VirtualBox's VBoxManage ends on Linux, by the signal, so the shell sees 128+N. Most commands
// never catch them and die at once. A long-running command or a background process catches them
// first (catch_stop_signals), finishes what it is doing (a metrics collect stops collecting, a
// daemon gives back what it steers), then ends by the same signal (end_by_stop_signal).

#include <functional>

namespace vbm::sys {

/// Installs the handlers (once); from then on stop_signal() says whether one arrived.
void catch_stop_signals();
/// The stop signal that arrived since catch_stop_signals, 0 if none.
int stop_signal();
/// If a stop signal arrived: restores its default action and raises it, so the process ends by
/// it. Returns only when none arrived.
void end_by_stop_signal();

/// Makes sure file descriptors 0, 1 and 2 are open (on /dev/null if they were closed), so a
/// file or socket opened later never becomes stdout by accident (coreutils, libvirt's tools).
/// Says whether stdout was closed, so that what is written to it can still be reported lost.
struct StandardFds {
  bool stdout_was_closed = false;
};
StandardFds ensure_standard_fds();

/// A place where a test can stop the process to interleave something deterministically: when
/// $VBOXKVM_PAUSE_AT names `point`, the process says so on stderr and stops itself (SIGSTOP)
/// until the test sends SIGCONT, the first time it passes there. Nothing happens otherwise.
void pause_point(const char* point);
/// In-process tests: `hook` runs at every pause point instead (an empty one removes it).
void set_pause_hook(std::function<void(const char* point)> hook);

} // namespace vbm::sys
