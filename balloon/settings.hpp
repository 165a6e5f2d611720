#pragma once
// The balloon service's settings: VBoxBalloonCtrl's command line (and vboxkvm's additions), and
// each VM's settings as extradata keys give them, resolved in one place with where each value
// came from (`balloonctrl status --explain VM` prints that).
//
// Precedence for the vboxkvm policy is the one VirtualBox's manual describes: command line >
// per-VM extradata > global extradata > default. The vbox policy reproduces VBoxBalloonCtrl
// 7.0.14 exactly instead, whose code differs (the global BalloonSizeMax and BalloonEnabled win
// over the command line and the VM's): it reads the raw keys (VBoxKeys) itself.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::balloon {

enum class PolicyKind { Adaptive, VBox, Proxmox, Mom };
/// "vboxkvm", "vbox", "proxmox", "mom".
std::string_view policy_name(PolicyKind kind);
std::optional<PolicyKind> parse_policy(std::string_view name);

/// idle: take a guest's idle memory back whatever the host (VirtualBox's semantics, up to the
/// VM's BalloonSizeMax); demand: only while the host needs memory, and give it back after.
enum class Mode { Idle, Demand };
std::string_view mode_name(Mode mode);
std::optional<Mode> parse_mode(std::string_view name);

/// The command line. Defaults are VBoxBalloonCtrl's (VBoxModBallooning.cpp, lines 89-96).
struct Options {
  std::uint32_t interval_ms = 30000; ///< --balloon-interval (raised to 500 at least)
  std::uint32_t inc_mb = 256;        ///< --balloon-inc
  std::uint32_t dec_mb = 128;        ///< --balloon-dec
  std::uint32_t lower_limit_mb = 128;     ///< --balloon-lower-limit
  std::optional<std::uint32_t> max_mb;    ///< --balloon-max (0 = no maximum)
  std::uint32_t safety_margin_mb = 1024;  ///< --balloon-safety-margin
  bool disabled = false;                  ///< --disable-balloon
  bool dryrun = false;                    ///< --dryrun: decide and log, change nothing
  bool verbose = false;                   ///< -v
  std::optional<PolicyKind> policy;       ///< --balloon-policy (default vboxkvm)
  std::optional<Mode> mode;               ///< --balloon-mode (default idle)
  /// --host-budget MB: the host is taken to have MB of memory, used by the managed guests'
  /// QEMU resident memory (benchmarks: every policy sees the same emulated host).
  std::optional<std::uint64_t> host_budget_mb;
  /// --balloon-groups g1,g2: only the VMs in one of these groups (VirtualBox parses the option
  /// and ignores it; here it does what its help says). Empty: every VM.
  std::vector<std::string> groups;
};

/// Reads an extradata value: the VM's (`uuid`) or the global one (`uuid` empty); nullopt when
/// unset or empty.
using ExtraDataReader =
    std::function<std::optional<std::string>(const std::string& uuid, std::string_view key)>;

// The keys (VirtualBox's, as VBoxBalloonCtrl reads them, and vboxkvm's own).
inline constexpr std::string_view k_key_size_max = "VBoxInternal2/Watchdog/BalloonCtrl/BalloonSizeMax";
inline constexpr std::string_view k_key_enabled = "VBoxInternal2/Watchdog/BalloonCtrl/BalloonEnabled";
inline constexpr std::string_view k_key_guest_size_max = "VBoxInternal/Guest/BalloonSizeMax";
inline constexpr std::string_view k_key_guest_enabled = "VBoxInternal/Guest/BalloonEnabled";
inline constexpr std::string_view k_key_policy = "VBoxKVM/Balloon/Policy";
inline constexpr std::string_view k_key_mode = "VBoxKVM/Balloon/Mode";
inline constexpr std::string_view k_key_min = "VBoxKVM/Balloon/MinMB";
inline constexpr std::string_view k_key_shares = "VBoxKVM/Balloon/Shares";
/// A VM's groups, comma-separated (VirtualBox keeps them in the machine; libvirt has none).
inline constexpr std::string_view k_key_groups = "VBoxKVM/Groups";

/// The raw keys VBoxBalloonCtrl reads for one VM (balloonGetMaxSize, balloonGetRequestedSize,
/// balloonIsEnabled), unparsed.
struct VBoxKeys {
  std::optional<std::string> global_size_max; ///< global VBoxInternal/Guest/BalloonSizeMax
  std::optional<std::string> global_enabled;  ///< global VBoxInternal/Guest/BalloonEnabled
  std::optional<std::string> vm_size_max;     ///< VBoxInternal2/…/BalloonCtrl/BalloonSizeMax
  std::optional<std::string> vm_legacy_size_max; ///< VBoxInternal/Guest/BalloonSizeMax
  std::optional<std::string> vm_enabled;      ///< VBoxInternal2/…/BalloonCtrl/BalloonEnabled
  bool operator==(const VBoxKeys&) const = default;
};

/// One resolved value and where it came from ("command line", "per-VM extra-data …", …).
template <class T>
struct Sourced {
  T value{};
  std::string source;
  std::string note; ///< e.g. a value that was set but could not be read
};

/// One VM's settings, resolved.
struct GuestSettings {
  Sourced<bool> enabled;
  Sourced<PolicyKind> policy;
  Sourced<Mode> mode;
  /// The most memory the balloon may take (MB): VirtualBox's BalloonSizeMax. Without one,
  /// vboxkvm's policy takes at most what VirtualBox accepts for a balloon (below 90% of RAM).
  Sourced<std::uint64_t> size_max_mb;
  Sourced<std::uint64_t> min_mb;  ///< the least the guest keeps (MB), 0: the guard decides
  Sourced<std::uint64_t> shares;  ///< its weight when the host needs memory (1000)
  Sourced<std::vector<std::string>> groups; ///< its groups ("/" unless set)
  VBoxKeys vbox;
};

/// IPRT's RTStrToUInt32 (base 0: 0x hex, leading 0 octal; trailing text ignored; no digits: 0;
/// too big or negative: wraps to 32 bits), as VBoxBalloonCtrl reads extradata values.
std::uint32_t vbox_to_uint32(std::string_view text);

/// Resolves the settings of the VM `uuid` with `max_kib` of RAM.
GuestSettings resolve(const Options& options, const ExtraDataReader& read, const std::string& uuid,
                      std::uint64_t max_kib);

/// "/a, /b" → {"/a", "/b"} (VirtualBox's groupAdd: comma-separated, blanks trimmed, empty
/// entries dropped).
std::vector<std::string> split_groups(std::string_view text);
/// Whether a VM in `groups` is one `options.groups` selects.
bool selected(const Options& options, const std::vector<std::string>& groups);

/// The resolution as lines, for `balloonctrl status --explain VM`.
std::vector<std::string> explain(const GuestSettings& s);

} // namespace vbm::balloon
