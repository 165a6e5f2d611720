#pragma once
// The page-fusion controller's state file (/run/vboxkvm/pagefusion.json): written by the
// controller after every event and tick, read by `pagefusion status` (as any user) and by
// `pagefusion manage off` (waiting for KSM to be given back). One struct for both sides,
// versioned: a file of another version, or not ours, reads as no state.

#include "pagefusion/controller.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::pagefusion {

struct StateFile {
  static constexpr int k_version = 1;
  int pid = 0;
  std::int64_t updated_ms = 0;
  bool manage_ksm = true;
  std::string uri;
  bool connected = false;
  Mode mode = Mode::Unmanaged;
  std::int64_t mode_since_ms = 0;
  Rate rate;
  std::optional<double> ksmd_cpu_percent; ///< over the controller's last 10 s
  std::vector<Guest> guests;
  std::optional<Gain> last_gain;
  std::optional<std::string> prior; ///< KSM's tunables as found (KsmKnobs::to_text)
  std::vector<Decision> decisions;  ///< the most recent last

  std::string to_json() const;
  /// nullopt for text that is not a state file of this version.
  static std::optional<StateFile> from_json(std::string_view text);
};

/// The state file at `path`; nullopt when there is none, or it is not one of ours.
std::optional<StateFile> read_state(const std::filesystem::path& path);
/// Replaces the state file atomically, readable by all (like libvirt's read-only socket shows
/// guest names to all local users). Throws vbm::Error.
void write_state(const std::filesystem::path& path, const StateFile& state);

} // namespace vbm::pagefusion
