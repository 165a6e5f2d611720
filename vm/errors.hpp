#pragma once
// VirtualBox's Main API errors (a COM result code, the component and interface that raised
// it, and where VBoxManage called it): what IMachine's rules throw, printed by the frontend in
// the three lines CHECK_ERROR prints (spec §1.3).

#include "sys/error.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace vbm::vm {

/// Where VBoxManage made the call that failed: its Context line.
struct CallSite {
  std::string_view context; ///< the call expression, e.g. "COMSETTER(MemorySize)(ValueUnion.u32)"
  std::string_view file;    ///< VBoxManage's source file
  int line = 0;
};

class ApiError : public Error {
public:
  struct Code {
    const char* name;
    std::uint32_t value;
    const char* description = ""; ///< IPRT's message for it (errmsgxpcom.cpp), for without_info
  };
  ApiError(const std::string& text, Code hresult, std::string component_name, std::string iface,
           const CallSite& site)
      : Error(text), code(hresult), component(std::move(component_name)),
        interface_name(std::move(iface)), context(site.context), file(site.file), line(site.line) {}
  /// A method that failed with a bare result code and no error info (Main's `return
  /// E_INVALIDARG;` without setError): GluePrintRCMessage's line, then the Context line (none
  /// without a call site, as GlueHandleComErrorNoCtx).
  static ApiError without_info(Code hresult, const CallSite& site) {
    ApiError e(fmt::format("Code {} (0x{:08X}) - {} (extended info not available)", hresult.name,
                           hresult.value, hresult.description),
               hresult, {}, {}, site);
    e.extended_info = false;
    return e;
  }
  std::vector<std::string> detail_lines() const override {
    std::vector<std::string> lines;
    if (extended_info) {
      lines.push_back(fmt::format("Details: code {} (0x{:08x}), component {}, interface {}, "
                                  "callee nsISupports",
                                  code.name, code.value, component, interface_name));
    }
    if (!context.empty()) {
      lines.push_back(fmt::format("Context: \"{}\" at line {} of file {}", context, line, file));
    }
    return lines;
  }
  Code code;
  std::string component;
  std::string interface_name;
  std::string context;
  std::string file;
  int line;
  bool extended_info = true; ///< false: no Details line (the callee set no error info)
};

// HRESULT names as XPCOM (Linux) hosts print them.
constexpr ApiError::Code k_invalid_arg{"NS_ERROR_INVALID_ARG", 0x80070057,
                                       "Invalid argument value"};
constexpr ApiError::Code k_not_implemented{"NS_ERROR_NOT_IMPLEMENTED", 0x80004001,
                                           "Not implemented"};
constexpr ApiError::Code k_access_denied{"E_ACCESSDENIED", 0x80070005, "Access denied"};
constexpr ApiError::Code k_object_not_found{"VBOX_E_OBJECT_NOT_FOUND", 0x80bb0001};
constexpr ApiError::Code k_invalid_vm_state{"VBOX_E_INVALID_VM_STATE", 0x80bb0002};
constexpr ApiError::Code k_invalid_object_state{"VBOX_E_INVALID_OBJECT_STATE", 0x80bb0007};

} // namespace vbm::vm
