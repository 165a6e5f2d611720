// Builds the real services, runs the app, returns its exit code. Nothing else.

#include "backend/hypervisor.hpp"
#include "cli/app.hpp"
#include "store/settings_store.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <sys/file.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop = true; }

// Installed only when a long-running command first asks, so every other command still dies
// on Ctrl-C the ordinary way.
bool stop_requested() {
  static bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    return true;
  }();
  (void)installed;
  return g_stop;
}

std::string read_pid(const std::string& path) {
  char buf[32] = {};
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
    pid.pop_back();
  }
  return pid;
}

// Starts `vboxmanage __collector` detached (double fork, own session, output to a log beside
// the store) unless one already holds the store's collector lock.
std::string ensure_collector(const std::string& store_path) {
  auto dir = std::filesystem::path(store_path).parent_path();
  auto lock_path = (dir / "vboxkvm-collector.lock").string();
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error(fmt::format("cannot open '{}': {}", lock_path, std::strerror(errno)));
  }
  bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd); // releases our probe lock
  if (!free) {
    return fmt::format("collector pid {}", read_pid(lock_path));
  }
  auto log_path = (dir / "vboxkvm-collector.log").string();
  pid_t child = fork();
  if (child < 0) {
    throw std::runtime_error(fmt::format("cannot start the metrics collector: {}", std::strerror(errno)));
  }
  if (child == 0) {
    setsid();
    if (fork() != 0) {
      _exit(0);
    }
    int null = open("/dev/null", O_RDONLY);
    int logfd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
    }
    if (logfd >= 0) {
      dup2(logfd, STDOUT_FILENO);
      dup2(logfd, STDERR_FILENO);
    }
    char arg0[] = "vboxmanage";
    char arg1[] = "__collector";
    char* argv[] = {arg0, arg1, nullptr};
    execv("/proc/self/exe", argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  // Report the collector's PID once it holds the lock (it writes the PID there).
  for (int waited = 0; waited < 2000; waited += 20) {
    if (auto pid = read_pid(lock_path); !pid.empty()) {
      return fmt::format("collector pid {}", pid);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "collector starting";
}

} // namespace

int main(int argc, char** argv) {
  using namespace vbm;
  // A libvirtd that goes away must be an error we report, not a silent death by SIGPIPE on its
  // socket (virsh does the same); a closed stdout shows as a failed write instead.
  std::signal(SIGPIPE, SIG_IGN);
  std::string prog = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "vboxmanage";
  cli::StdOutput out(prog.empty() ? "vboxmanage" : prog);

  std::map<std::optional<std::string>, std::unique_ptr<backend::Hypervisor>> hvs;
  std::unique_ptr<store::SettingsStore> st;
  cli::Services services{
      [&](const std::optional<std::string>& uri, cli::Access access) -> backend::Hypervisor& {
        auto& hv = hvs[uri];
        if (!hv) {
          hv = backend::open_hypervisor(uri, access == cli::Access::ReadOnly);
        }
        return *hv;
      },
      [&]() -> store::SettingsStore& {
        if (!st) {
          st = std::make_unique<store::SettingsStore>(
              store::SettingsStore::prepare_path(store::SettingsStore::default_dir()));
        }
        return *st;
      },
      [] {
        return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
      },
      [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); },
      [] { return isatty(STDERR_FILENO) == 1; },
  };
  services.ensure_collector = [&] { return ensure_collector(services.store().path()); };
  services.stop_requested = stop_requested;
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  return cli::run_app(args, out, services);
}
