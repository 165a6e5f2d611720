// The hidden `__collector` command: the background process that samples metrics into the store
// (metrics/collector.cpp does the sampling). One per store, guarded by a flock on
// vboxkvm-collector.lock beside the store file, which also holds its PID. Started on demand by
// `metrics setup/enable/collect` (main.cpp's ensure_collector) and exits when nothing is being
// collected; `--permanent` (the systemd unit) keeps running until SIGTERM.

#include "backend/local_host.hpp"
#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/lock_file.hpp"
#include "cli/vm_state.hpp"
#include "metrics/collector.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <memory>
#include <sys/file.h>
#include <unistd.h>

namespace vbm::cli {

namespace {
constexpr int k_beat_ms = 1000; // VBOX_USAGE_SAMPLER_MIN_INTERVAL
constexpr int k_poll_ms = 100;

struct Args {
  bool permanent = false;
  std::optional<std::string> textfile_dir;
  std::optional<long> beats; ///< stop after this many beats (benchmarks)
};

Args parse(std::span<const std::string> args) {
  Args a;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--permanent") {
      a.permanent = true;
    } else if (args[i] == "--textfile-dir" && i + 1 < args.size()) {
      a.textfile_dir = args[++i];
    } else if (args[i] == "--beats" && i + 1 < args.size()) {
      a.beats = std::stol(args[++i]);
    } else {
      throw CommandError(fmt::format("__collector: unknown argument '{}'", args[i]), k_exit_syntax);
    }
  }
  return a;
}

// Writes the exposition so node_exporter never reads half a file: temporary file, then rename.
void write_textfile(const std::string& dir, const std::string& text) {
  try {
    backend::write_file_atomic(std::filesystem::path(dir) / "vboxkvm.prom", text, 0644, false);
  } catch (const std::runtime_error& e) {
    throw CommandError(e.what());
  }
}
} // namespace

int run_collector(std::span<const std::string> argv, Output& out, Services& services) {
  Args args = parse(argv);
  if (const char* dir = std::getenv("VBOXKVM_METRICS_TEXTFILE_DIR");
      !args.textfile_dir && dir && *dir) {
    args.textfile_dir = dir;
  }
  auto& st = services.store();
  auto lock_path =
      (std::filesystem::path(st.path()).parent_path() / "vboxkvm-collector.lock").string();
  LockFile lock(lock_path);
  if (!lock.lock(args.permanent)) {
    return k_exit_success; // another collector serves this store
  }
  auto log = [&](const std::string& msg) {
    out.err(fmt::format("{} collector[{}]: {}\n",
                        format_state_time(services.now_ms()).substr(0, 23), getpid(), msg));
  };
  log(fmt::format("started for {}", st.path()));
  store::MetricsStore(st).relax_durability();

  std::map<std::string, std::unique_ptr<backend::Hypervisor>> connections;
  backend::LocalHost local;
  metrics::Collector collector(
      st,
      [&](const std::string& uri) -> backend::Hypervisor& {
        auto& conn = connections[uri];
        if (!conn) {
          conn = backend::open_hypervisor(uri, false);
        }
        return *conn;
      },
      local, log,
      [&](const std::string& uri) {
        connections.erase(uri); // reconnect at the next beat (libvirtd may have restarted)
      });

  std::int64_t next = services.now_ms();
  for (long beat = 0; !services.stop_requested(); ++beat) {
    if (args.beats && beat >= *args.beats) {
      break;
    }
    bool active = true;
    try {
      active = collector.beat(services.now_ms());
      if (args.textfile_dir) {
        write_textfile(*args.textfile_dir, collector.exposition());
      }
    } catch (const std::exception& e) {
      log(e.what()); // a busy or full store: try again at the next beat
    }
    if (!active && !args.permanent && !args.beats) {
      // Release first, then look again: a `metrics setup` that committed before our look is
      // seen here; one that commits after it finds the lock free and starts a new collector.
      lock.unlock();
      if (store::MetricsStore(st).collecting_uris().empty() || !lock.lock(false)) {
        break;
      }
    }
    next += k_beat_ms;
    for (auto now = services.now_ms(); now < next && !services.stop_requested();
         now = services.now_ms()) {
      services.sleep_ms(static_cast<int>(std::min<std::int64_t>(k_poll_ms, next - now)));
    }
    if (services.now_ms() - next > k_beat_ms) {
      next = services.now_ms(); // suspended or stalled: don't race to catch up
    }
  }
  if (args.textfile_dir) {
    std::remove((std::filesystem::path(*args.textfile_dir) / "vboxkvm.prom").c_str());
  }
  log("stopped");
  return k_exit_success;
}

} // namespace vbm::cli
