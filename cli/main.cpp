// Builds the real services, runs the app, returns its exit code. Nothing else.

#include "backend/hypervisor.hpp"
#include "cli/app.hpp"
#include "store/settings_store.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>
#include <unistd.h>

int main(int argc, char** argv) {
  using namespace vbm;
  std::string prog = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "vboxmanage";
  cli::StdOutput out(prog.empty() ? "vboxmanage" : prog);

  std::unique_ptr<backend::Hypervisor> hv;
  std::unique_ptr<store::SettingsStore> st;
  cli::Services services{
      [&](const std::optional<std::string>& uri, cli::Access access) -> backend::Hypervisor& {
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
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  return cli::run_app(args, out, services);
}
