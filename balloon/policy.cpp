#include "balloon/policy.hpp"

#include "balloon/adaptive_policy.hpp"
#include "balloon/baseline_policies.hpp"
#include "balloon/vbox_policy.hpp"

namespace vbm::balloon {

std::unique_ptr<Policy> make_policy(PolicyKind kind, const Options& options) {
  switch (kind) {
  case PolicyKind::VBox: return std::make_unique<VBoxPolicy>(options);
  case PolicyKind::Proxmox: return std::make_unique<ProxmoxPolicy>();
  case PolicyKind::Mom: return std::make_unique<MomPolicy>();
  case PolicyKind::Adaptive: break;
  }
  return std::make_unique<AdaptivePolicy>();
}

} // namespace vbm::balloon
