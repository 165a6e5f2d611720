#pragma once
// VirtualBox's guest OS types (IGuestOSType): the one table `list ostypes` prints and the
// libosinfo mapping of showvminfo names its types from.

#include <span>
#include <string_view>

namespace vbm::vm {

/// One VirtualBox guest OS type (Global::sOSTypes entry).
struct GuestOsType {
  std::string_view family_id;          ///< "Linux"
  std::string_view family_description; ///< "Linux"
  std::string_view id;                 ///< "Ubuntu_64"
  std::string_view description;        ///< "Ubuntu (64-bit)"
  bool is_64bit = false;
};

/// Every type, in VirtualBox 7.0.14's order.
std::span<const GuestOsType> guest_os_types();
/// The type with this id (exact, as VirtualBox's ids are matched), nullptr if there is none.
const GuestOsType* find_guest_os_type(std::string_view id);

} // namespace vbm::vm
