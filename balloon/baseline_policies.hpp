#pragma once
// The two anchors the benchmark measures vboxkvm's policy against, ported faithfully from
// their sources (notes and worked examples: /work/research/balloon-baselines.md, summarised in
// ../shared/notes/balloon-policies.md):
//   ProxmoxPolicy  pve-manager PVE/Service/pvestatd.pm auto_ballooning + PVE/AutoBalloon.pm
//                  compute_alg1: every 10 s, a host goal (80% of MemTotal minus what is used)
//                  split by shares, pressured guests first, ±100 MiB per VM per cycle, a 10 MiB
//                  dead band; a guest starts at its minimum.
//   MomPolicy      oVirt MOM with vdsm's 02-balloon.policy: every 15 s, 10-sample averages;
//                  under host pressure (free < 20%) every guest shrinks by 5%, else it grows by
//                  at least 5% toward its maximum; 0.25% changes are skipped.
// The guest's minimum (Proxmox's `balloon`, oVirt's guaranteed memory) is VBoxKVM/Balloon/MinMB.

#include "balloon/policy.hpp"

#include <deque>
#include <map>
#include <set>

namespace vbm::balloon {

class ProxmoxPolicy final : public Policy {
public:
  struct Vm {
    std::string id;
    std::optional<std::int64_t> actual; ///< bytes
    std::int64_t maxmem = 0;            ///< bytes
    std::optional<std::int64_t> balloon_min;
    std::optional<std::int64_t> shares;
    std::optional<std::int64_t> freemem; ///< guest MemFree, bytes
  };
  /// AutoBalloon.pm compute_alg1: the targets (bytes) for `goal` bytes more (or fewer, < 0) for
  /// the guests. Public for tests against Proxmox's own vectors.
  static std::map<std::string, std::int64_t> compute_alg1(const std::vector<Vm>& vms,
                                                          std::int64_t goal,
                                                          std::int64_t maxchange);

  std::int64_t decide(std::int64_t now_ms, const HostFigures& host, std::span<const Guest> guests,
                      std::vector<Action>& out) override;
  void forget(const std::string& uuid) override { m_started.erase(uuid); }
  GuestNote note(const std::string&) const override { return {}; }
  bool reacts_to_events() const override { return false; }

private:
  std::optional<std::int64_t> m_next_ms;
  std::set<std::string> m_started; ///< guests given their start target (the minimum)
};

class MomPolicy final : public Policy {
public:
  struct HostSample {
    std::optional<double> mem_free; ///< kB: MemFree + Buffers + Cached
    double mem_available = 0;       ///< kB: MemTotal (MOM's name)
  };
  struct GuestSample {
    std::optional<double> balloon_cur, balloon_max, balloon_min, mem_unused; ///< KiB
  };
  /// vdsm's policy over the monitors' histories: the balloon targets (KiB, before int()), or
  /// nullopt when the evaluation fails (a guest without balloon figures: MOM discards the run).
  static std::optional<std::map<std::string, double>>
  evaluate(const std::deque<HostSample>& host,
           const std::map<std::string, std::deque<GuestSample>>& guests, bool balloon_enabled);

  std::int64_t decide(std::int64_t now_ms, const HostFigures& host, std::span<const Guest> guests,
                      std::vector<Action>& out) override;
  void forget(const std::string& uuid) override { m_guests.erase(uuid); }
  GuestNote note(const std::string&) const override { return {}; }
  bool reacts_to_events() const override { return false; }

private:
  std::optional<std::int64_t> m_next_ms;
  std::deque<HostSample> m_host;
  std::map<std::string, std::deque<GuestSample>> m_guests;
};

} // namespace vbm::balloon
