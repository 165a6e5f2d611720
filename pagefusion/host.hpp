#pragma once
// Where vboxkvm keeps its host-wide page-fusion files, and the admin's setting. KSM is one per
// host, so these are host-wide too (not in a user's settings store):
//
//   /etc/vboxkvm/pagefusion.conf   the setting: manage-ksm = yes | no   (default yes)
//   /run/vboxkvm/pagefusiond.lock  one controller per host (flock; holds its PID)
//   /run/vboxkvm/ksm-prior         KSM's tunables as found, while the controller changes them
//   /run/vboxkvm/pagefusion.json   the controller's state and recent decisions (for status)
//   /run/vboxkvm/pagefusiond.log   its log
//
// VBOXKVM_ETC_DIR and VBOXKVM_RUN_DIR move the two directories (tests, packaging).

#include "backend/hypervisor.hpp"
#include "sys/error.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace vbm::pagefusion {

/// A setting that cannot be read or written; the message names the file.
class SettingsError : public Error {
public:
  using Error::Error;
};

struct HostPaths {
  std::filesystem::path etc_dir;
  std::filesystem::path run_dir;
  std::filesystem::path settings() const { return etc_dir / "pagefusion.conf"; }
  std::filesystem::path lock() const { return run_dir / "pagefusiond.lock"; }
  std::filesystem::path prior() const { return run_dir / "ksm-prior"; }
  std::filesystem::path state() const { return run_dir / "pagefusion.json"; }
  std::filesystem::path log() const { return run_dir / "pagefusiond.log"; }
};

/// /etc/vboxkvm and /run/vboxkvm, or the directories the environment names.
HostPaths host_paths();
/// As root: creates `dir` (0755) and refuses one that is not root's alone. Throws vbm::Error.
void prepare_host_dir(const std::filesystem::path& dir, const std::string& what);

/// Whether the connection is this host's QEMU ("qemu:///system", "qemu+unix:///session"): KSM
/// merges what QEMU marks mergeable, so only its guests can be page-fusion guests.
bool is_local_qemu(backend::Hypervisor& hv);
/// Whether KSM may merge a running guest's memory: QEMU marks guest RAM mergeable unless
/// <nosharepages/>, and huge pages are never merged.
bool is_page_fusion_guest(const backend::DomainMemory& live);

/// The host admin's page-fusion settings.
struct Settings {
  /// Whether vboxkvm runs the host's KSM while page-fusion guests run (and gives it back as
  /// found afterwards). No: KSM is left exactly as the admin or another tool sets it.
  bool manage_ksm = true;
};

/// Reads the settings file; a missing file means the defaults. Throws SettingsError for a file
/// that cannot be read or a line it does not understand ("FILE:LINE: …").
Settings read_settings(const std::filesystem::path& file);
/// Sets manage-ksm in the file, keeping its other lines and comments. Throws SettingsError.
void write_manage_ksm(const std::filesystem::path& file, bool manage);

} // namespace vbm::pagefusion
