#pragma once
// Runs the whole app (argv → exit code, stdout, stderr) on a FakeHypervisor and an
// in-memory store, like ninja's test fixtures.

#include "cli/app.hpp"
#include "fake_hypervisor.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace vbm::test {

struct CliTest : testing::Test {
  FakeHypervisor hv;
  store::SettingsStore st{":memory:"};
  cli::StringOutput out;
  std::int64_t now = 1700000000123;
  std::vector<std::optional<std::string>> uris_seen;
  cli::Services services{
      [this](const std::optional<std::string>& uri, cli::Access) -> backend::Hypervisor& {
        uris_seen.push_back(uri);
        return hv;
      },
      [this]() -> store::SettingsStore& { return st; },
      [this] { return now; },
      [this](int ms) {
        now += ms;
        ++sleeps;
        hv.tick();
        if (on_sleep) {
          on_sleep();
        }
      },
      [this] { return stderr_tty; },
  };
  bool stderr_tty = false;
  int sleeps = 0;
  int collector_starts = 0;
  int stop_after_sleeps = -1; ///< stop_requested() turns true after this many sleeps
  std::function<void()> on_sleep;

  CliTest() {
    setenv("IPRT_SCREEN_WIDTH", "80", 1);
    services.ensure_collector = [this] {
      ++collector_starts;
      return std::string("collector pid 4242");
    };
    services.stop_requested = [this] {
      return stop_after_sleeps >= 0 && sleeps >= stop_after_sleeps;
    };
  }

  /// Runs a command line (split on spaces) and returns the exit code.
  int run(const std::string& line) {
    std::vector<std::string> args;
    std::istringstream in(line);
    for (std::string w; in >> w;) {
      args.push_back(w);
    }
    return run_args(args);
  }
  int run_args(const std::vector<std::string>& args) {
    out.stdout_text.clear();
    out.stderr_text.clear();
    return cli::run_app(args, out, services);
  }
  std::string first_err_line() const {
    return out.stderr_text.substr(0, out.stderr_text.find('\n'));
  }
};

} // namespace vbm::test
