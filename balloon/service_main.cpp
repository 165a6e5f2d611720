#include "balloon/service_main.hpp"

#include "backend/local_host.hpp"
#include "balloon/service.hpp"
#include "sys/files.hpp"
#include "sys/lock_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vbm::balloon {

namespace {
// The host's memory from /proc, with the swap-in rate since the last look.
class HostReader {
public:
  std::optional<HostFigures> operator()(std::int64_t now_ms) {
    auto mem = m_local.meminfo();
    if (!mem) {
      return std::nullopt;
    }
    HostFigures h;
    h.total_kib = mem->total_kib;
    h.free_kib = mem->free_kib + mem->buffers_kib + mem->cached_kib;
    h.available_kib = mem->available_kib.value_or(h.free_kib);
    if (auto p = m_local.memory_pressure()) {
      h.psi_some_avg10 = p->some_avg10;
      h.psi_full_avg10 = p->full_avg10;
    }
    if (auto swaps = m_local.swap_ins()) {
      if (m_swaps && now_ms > m_swaps_ms) {
        h.swap_in_per_s = static_cast<double>(*swaps - std::min(*swaps, *m_swaps)) * 1000.0 /
                          static_cast<double>(now_ms - m_swaps_ms);
      }
      m_swaps = swaps;
      m_swaps_ms = now_ms;
    }
    return h;
  }

private:
  backend::LocalHost m_local;
  std::optional<std::uint64_t> m_swaps;
  std::int64_t m_swaps_ms = 0;
};

// RTProcDaemonizeUsingFork: double fork, own session, "/" as the working directory, standard
// fds on the log; the pid file (created exclusively before the fork, as VirtualBox does) gets
// the daemon's PID. The caller returns in the parent (true) and carries on in the daemon.
bool daemonize(const std::optional<std::string>& pidfile, int logfd) {
  int pidfd = -1;
  if (pidfile) {
    pidfd = open(pidfile->c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (pidfd < 0) {
      throw Error(fmt::format("failed to daemonize: cannot create the pid file '{}': {}. exiting.",
                              *pidfile, std::strerror(errno)));
    }
  }
  pid_t child = fork();
  if (child < 0) {
    throw Error(fmt::format("failed to daemonize: {}. exiting.", std::strerror(errno)));
  }
  if (child > 0) {
    if (pidfd >= 0) {
      close(pidfd);
    }
    return true;
  }
  setsid();
  if (fork() != 0) {
    _exit(0);
  }
  if (chdir("/") != 0) {
    // "/" always exists
  }
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    close(null);
  }
  dup2(logfd, STDOUT_FILENO);
  dup2(logfd, STDERR_FILENO);
  if (pidfd >= 0) {
    auto text = fmt::format("{}\n", getpid());
    if (write(pidfd, text.data(), text.size()) < 0) {
      // the pid file is informational
    }
    close(pidfd);
  }
  return false;
}
} // namespace

ServiceFiles service_files(const std::string& store_path) {
  auto dir = std::filesystem::path(store_path).parent_path();
  return {dir / "vboxkvm-balloonctrl.lock", dir / "vboxkvm-balloonctrl.json",
          dir / "vboxballoonctrl.log"};
}

int service_main(const Options& options, const ProcessOptions& process, const ServiceEnv& env) {
  auto files = service_files(env.store_path);
  std::optional<std::filesystem::path> log_path;
  if (process.logfile && !process.logfile->empty()) {
    log_path = std::filesystem::absolute(*process.logfile); // before -b changes directory
  } else if (process.background) {
    log_path = files.default_log;
  }
  sys::DaemonFiles daemon_files{files.lock, log_path.value_or(files.default_log), 0600, 0600,
                                {process.log_size, process.log_rotate,
                                 static_cast<std::int64_t>(process.log_interval_s)}};
  sys::Daemon daemon("balloonctrl", daemon_files, env.hooks);
  if (!daemon.acquire(false)) {
    throw Error(fmt::format("another balloonctrl (pid {}) already manages the guests of the "
                            "settings store '{}'",
                            sys::read_lock_pid(files.lock), env.store_path));
  }
  std::fputs(env.banner.c_str(), stderr);
  std::fflush(stderr);
  if (log_path) {
    int logfd = sys::open_private_file(*log_path, O_WRONLY | O_APPEND, 0600, "log file");
    if (process.background) {
      if (daemonize(process.pidfile, logfd)) {
        close(logfd);
        return 0; // the daemon carries on; it holds the lock (the same open file)
      }
      daemon.acquire(false); // the daemon's PID into the lock file
    } else {
      dup2(logfd, STDERR_FILENO); // -F in the foreground: the log goes to that file
    }
    close(logfd);
  }
  auto log = [&](const std::string& msg) { daemon.log(msg); };
  if (options.dryrun) {
    log("Running in dryrun mode");
  }
  HostReader host;
  Service service(options,
                  {[&] { return backend::open_hypervisor(env.uri, false, true); }, env.hooks.now_ms,
                   env.hooks.sleep_ms, log, env.extradata,
                   [&] { return host(env.hooks.now_ms()); }, files.state});
  struct stat store_at {};
  stat(env.store_path.c_str(), &store_at);
  sys::Daemon::Loop loop{[&] {
                           service.turn();
                           return true;
                         },
                         [] { return false; },
                         [&]() -> std::string {
                           struct stat now {};
                           if (stat(env.store_path.c_str(), &now) != 0 ||
                               now.st_ino != store_at.st_ino) {
                             return fmt::format("its settings store '{}' was removed",
                                                env.store_path);
                           }
                           return {};
                         }};
  log(fmt::format("started: policy {}, mode {}{}", policy_name(options.policy.value_or(PolicyKind::Adaptive)),
                  mode_name(options.mode.value_or(Mode::Idle)),
                  options.host_budget_mb ? fmt::format(", host budget {} MB (emulated)", *options.host_budget_mb)
                                         : std::string()));
  auto end = daemon.run(loop, true);
  service.stop(end == sys::Daemon::End::Stopped ? "signal" : "its store is gone");
  if (process.background && process.pidfile) {
    std::remove(process.pidfile->c_str());
  }
  return 0;
}

} // namespace vbm::balloon
