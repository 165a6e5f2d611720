#pragma once
// The balloon service's state file ($VBOX_USER_HOME/vboxkvm-balloonctrl.json): written by the
// service about once a second and after every decision, read by `balloonctrl status`, by the
// metrics collector (the Prometheus textfile) and by bench/bench_autoballoon.sh. One struct for
// all sides, versioned: a file of another version, or not ours, reads as no state.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::balloon {

struct GuestState {
  std::string name;
  std::string uuid;
  std::string policy;
  std::string mode;
  std::uint64_t max_kib = 0;
  std::uint64_t actual_kib = 0;
  std::uint64_t target_kib = 0;
  std::optional<std::uint64_t> usable_kib;
  std::optional<std::uint64_t> guard_kib;
  /// "managed", "cooling down", "not responding", "disabled", "waiting for statistics", "paused"
  std::string state;
  std::string why; ///< the state in plain words, when there is more to say
};

struct DecisionRecord {
  std::int64_t at_ms = 0;
  std::string name;
  std::uint64_t from_kib = 0; ///< the guest's memory before (actual)
  std::uint64_t to_kib = 0;   ///< the target set
  std::string reason;
  bool urgent = false;  ///< a guest running short got memory back
  bool applied = true;  ///< false in --dryrun
};

struct ServiceState {
  static constexpr int k_version = 1;
  int pid = 0;
  std::int64_t updated_ms = 0;
  std::int64_t started_ms = 0;
  std::string uri;
  std::string hostname; ///< the host name libvirt gives for uri ("" until connected)
  bool connected = false;
  bool dryrun = false;
  std::string host_state; ///< the vboxkvm policy's view: plenty, normal, pressure, critical
  std::uint64_t host_total_kib = 0;
  std::uint64_t host_available_kib = 0;
  bool host_emulated = false; ///< --host-budget
  std::vector<GuestState> guests;
  std::vector<DecisionRecord> decisions; ///< the most recent last
  // Counters since the service started.
  std::uint64_t changes = 0;        ///< balloon targets set
  std::uint64_t urgent_changes = 0; ///< of which for guests running short
  std::uint64_t not_responding = 0; ///< guests marked not responding
  std::vector<std::int64_t> reaction_ms; ///< recent: running short seen -> balloon given back
  std::uint64_t reactions = 0;           ///< all of them
  std::uint64_t reaction_ms_sum = 0;     ///< all of them summed
  std::optional<std::int64_t> reaction_p50_ms;
  std::optional<std::int64_t> reaction_p99_ms;

  std::string to_json() const;
  static std::optional<ServiceState> from_json(std::string_view text);
};

std::optional<ServiceState> read_state(const std::filesystem::path& path);

/// The service's figures in Prometheus's text format (for the collector's textfile), labelled
/// host and uri: whether it runs, what it reclaimed, its balloon changes (counters), reaction
/// times (a summary over the recent ones), and per guest (vm, uuid) its state, whether its
/// balloon responds, and its maximum, target, actual, usable memory and guard.
std::string exposition(const ServiceState& state, bool running);
/// Replaces the file atomically (0600: it names the store's guests). Throws vbm::Error.
void write_state(const std::filesystem::path& path, const ServiceState& state);

} // namespace vbm::balloon
