#pragma once
// VBoxBalloonCtrl 7.0.14's ballooning module, decision for decision (VBoxModBallooning.cpp:
// VBoxModBallooningMain, balloonMachineUpdate, balloonGetDelta, balloonGetMaxSize,
// balloonGetRequestedSize, balloonIsEnabled), with its unsigned arithmetic and its log lines.
// On KVM VirtualBox's "balloon size" (MB taken from the guest) is max − actual, its
// Guest/RAM/Usage/Free is the guest's MemFree (unused), and the host's available RAM
// (RTSystemQueryAvailableRam) is MemFree + Buffers + Cached. What VBoxBalloonCtrl forgets
// (turning the guest statistics on) the service does for every policy.

#include "balloon/policy.hpp"

#include <map>

namespace vbm::balloon {

class VBoxPolicy final : public Policy {
public:
  explicit VBoxPolicy(const Options& options);
  std::int64_t decide(std::int64_t now_ms, const HostFigures& host, std::span<const Guest> guests,
                      std::vector<Action>& out) override;
  void forget(const std::string& uuid) override { m_payload.erase(uuid); }
  GuestNote note(const std::string& uuid) const override;
  bool reacts_to_events() const override { return false; }

  /// balloonGetDelta: MB to inflate (> 0) or deflate (< 0), for the given free guest memory,
  /// current and requested balloon, maximum, and host available RAM (bytes, nullopt when it
  /// cannot be read). Public so tests check it against hand-computed VirtualBox decisions.
  std::int32_t delta(std::uint32_t free_mb, std::uint32_t old_mb, std::uint32_t new_mb,
                     std::uint32_t max_mb, std::optional<std::uint64_t> host_avail_bytes) const;
  /// balloonGetMaxSize and balloonGetRequestedSize, from the raw keys.
  std::uint32_t max_size(const VBoxKeys& keys, std::string* source = nullptr) const;
  static std::uint32_t requested_size(const VBoxKeys& keys, std::string* source = nullptr);
  static bool enabled(const VBoxKeys& keys, std::string* source = nullptr);

private:
  /// VBOXWATCHDOG_BALLOONCTRL_PAYLOAD: the last balloon set and the last request, per VM.
  struct Payload {
    std::uint32_t cur_last = 0;
    std::uint32_t req_last = 0;
  };
  void update(const Guest& g, const HostFigures& host, std::vector<Action>& out);
  void verbose(const std::string& line) const;

  Options m_opt;
  std::optional<std::int64_t> m_last_ms; ///< s_msLast: the end of the last pass
  std::map<std::string, Payload> m_payload;
};

} // namespace vbm::balloon
