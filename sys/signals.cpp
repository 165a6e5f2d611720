#include "sys/signals.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace vbm::sys {

namespace {
std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
}

constexpr int k_stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
} // namespace

void catch_stop_signals() {
  static bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : k_stop_signals) {
      sigaction(sig, &sa, nullptr);
    }
    return true;
  }();
  (void)installed;
}

int stop_signal() { return g_signal.load(); }

void end_by_stop_signal() {
  int sig = g_signal.load();
  if (sig == 0) {
    return;
  }
  std::signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  _exit(128 + sig); // not reached
}

StandardFds ensure_standard_fds() {
  StandardFds was;
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) {
      was.stdout_was_closed |= fd == 1;
      // open returns the lowest free descriptor: this one.
      int opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
      if (opened >= 0 && opened != fd) {
        dup2(opened, fd);
        close(opened);
      }
    }
  }
  return was;
}

namespace {
std::function<void(const char*)>& pause_hook() {
  static std::function<void(const char*)> hook;
  return hook;
}
} // namespace

void set_pause_hook(std::function<void(const char* point)> hook) { pause_hook() = std::move(hook); }

void pause_point(const char* point) {
  if (pause_hook()) {
    pause_hook()(point);
    return;
  }
  static bool paused = false; // once per process: the test interleaves one thing
  const char* want = std::getenv("VBOXKVM_PAUSE_AT");
  if (paused || want == nullptr || std::strcmp(want, point) != 0) {
    return;
  }
  paused = true;
  std::fprintf(stderr, "vboxmanage: paused at %s (pid %d)\n", point, static_cast<int>(getpid()));
  std::fflush(stderr);
  raise(SIGSTOP);
}

} // namespace vbm::sys
