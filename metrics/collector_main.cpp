#include "metrics/collector_main.hpp"

#include "backend/local_host.hpp"
#include "balloon/service_main.hpp"
#include "balloon/state.hpp"
#include "metrics/collector.hpp"
#include "store/metrics_store.hpp"
#include "sys/files.hpp"
#include "sys/lock_file.hpp"
#include "sys/parse.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <sys/stat.h>

namespace vbm::metrics {

namespace {
constexpr int k_beat_ms = 1000; // VBOX_USAGE_SAMPLER_MIN_INTERVAL
constexpr int k_poll_ms = 100;
constexpr int k_exit_syntax = 2;

struct Args {
  bool permanent = false;
  std::optional<std::filesystem::path> textfile_dir;
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
      a.beats = sys::parse_whole<long>(args[++i]);
      if (!a.beats || *a.beats < 0) {
        throw Error(fmt::format("__collector: invalid --beats '{}'", args[i]), k_exit_syntax);
      }
    } else {
      throw Error(fmt::format("__collector: unknown argument '{}'", args[i]), k_exit_syntax);
    }
  }
  if (const char* dir = std::getenv("VBOXKVM_METRICS_TEXTFILE_DIR");
      !a.textfile_dir && dir && *dir) {
    a.textfile_dir = dir;
  }
  return a;
}

// The inode of the store file: when the file at the path is another one (or none), the store
// this collector serves is gone (its VBOX_USER_HOME was removed).
std::optional<std::pair<dev_t, ino_t>> file_id(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  return std::pair{st.st_dev, st.st_ino};
}

// The balloon service's figures, when it serves this store (running, or stopped: Prometheus
// then sees it down).
std::string balloon_exposition(const std::string& store_path) {
  auto files = balloon::service_files(store_path);
  auto state = balloon::read_state(files.state);
  if (!state) {
    return {};
  }
  return balloon::exposition(*state, sys::lock_is_held(files.lock));
}
} // namespace

sys::DaemonFiles collector_files(const std::string& store_path) {
  auto dir = std::filesystem::path(store_path).parent_path();
  return {dir / "vboxkvm-collector.lock", dir / "vboxkvm-collector.log", 0600, 0600, {}};
}

std::string ensure_collector(const std::string& store_path) {
  auto pid = sys::spawn_daemon(collector_files(store_path), {"__collector"});
  return pid.empty() ? "collector starting" : fmt::format("collector pid {}", pid);
}

int collector_main(std::span<const std::string> argv, store::SettingsStore& st,
                   const sys::Daemon::Hooks& hooks) {
  Args args = parse(argv);
  if (args.textfile_dir) {
    // node_exporter reads what we write there; a directory another user can write would let
    // that user redirect our writes (symlinks), so it must be ours (or root's) alone.
    sys::check_dir(*args.textfile_dir, sys::DirRule::OnlyUsAndRoot,
                   "Prometheus textfile directory");
  }
  sys::Daemon daemon("collector", collector_files(st.path()), hooks);
  if (!daemon.acquire(args.permanent)) {
    return 0; // another collector serves this store
  }
  auto log = [&](const std::string& msg) { daemon.log(msg); };
  log(fmt::format("started for {}", st.path()));
  store::MetricsStore(st).relax_durability();
  const auto store_id = file_id(st.path());

  std::map<std::string, std::unique_ptr<backend::Hypervisor>> connections;
  backend::LocalHost local;
  Collector collector(
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

  std::int64_t next = hooks.now_ms();
  long beat = 0;
  bool beats_done = false;
  sys::Daemon::Loop loop{
      [&] {
        if (args.beats && beat++ >= *args.beats) {
          beats_done = true;
          return false;
        }
        bool active = true;
        try {
          active = collector.beat(hooks.now_ms());
          if (args.textfile_dir) {
            // node_exporter never reads half a file: a new temporary file, then rename.
            sys::write_file_atomic(*args.textfile_dir / "vboxkvm.prom",
                                   collector.exposition() + balloon_exposition(st.path()), 0644,
                                   false);
          }
        } catch (const std::exception& e) {
          log(e.what()); // a busy or full store: try again at the next beat
        }
        if (!active && !args.permanent && !args.beats) {
          return false; // nothing is collected: leave now, not after one more period
        }
        next += k_beat_ms;
        for (auto now = hooks.now_ms(); now < next && !hooks.stop_requested(); now = hooks.now_ms()) {
          hooks.sleep_ms(static_cast<int>(std::min<std::int64_t>(k_poll_ms, next - now)));
        }
        if (hooks.now_ms() - next > k_beat_ms) {
          next = hooks.now_ms(); // suspended or stalled: don't race to catch up
        }
        return true;
      },
      [&] { return !beats_done && !store::MetricsStore(st).collecting_uris().empty(); },
      [&]() -> std::string {
        if (file_id(st.path()) != store_id) {
          return fmt::format("its settings store '{}' was removed", st.path());
        }
        return {};
      }};
  daemon.run(loop, args.permanent);
  if (args.textfile_dir) {
    std::remove((*args.textfile_dir / "vboxkvm.prom").c_str());
  }
  return 0;
}

} // namespace vbm::metrics
