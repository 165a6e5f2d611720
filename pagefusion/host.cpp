#include "pagefusion/host.hpp"

#include "sys/files.hpp"
#include "sys/parse.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace vbm::pagefusion {

namespace {
constexpr std::string_view k_manage_key = "manage-ksm";

std::filesystem::path env_dir(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::filesystem::path(v) : std::filesystem::path(fallback);
}

} // namespace

void prepare_host_dir(const std::filesystem::path& dir, const std::string& what) {
  // Root's files: the directory must be root's alone, or whoever else can write it could
  // plant symlinks that root's controller then writes through. Others cannot write there at
  // all; their writes fail with EACCES on their own.
  if (geteuid() == 0) {
    sys::prepare_dir(dir, 0755, sys::DirRule::Private, what);
  }
}

HostPaths host_paths() {
  return {env_dir("VBOXKVM_ETC_DIR", "/etc/vboxkvm"), env_dir("VBOXKVM_RUN_DIR", "/run/vboxkvm")};
}

bool is_local_qemu(backend::Hypervisor& hv) {
  if (!hv.is_local()) {
    return false;
  }
  auto uri = hv.uri();
  return uri.substr(0, std::min(uri.find("://"), uri.find('+'))) == "qemu";
}

bool is_page_fusion_guest(const backend::DomainMemory& live) {
  return !live.nosharepages && !live.hugepages;
}

Settings read_settings(const std::filesystem::path& file) {
  Settings s;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec) && !ec) {
    return s;
  }
  errno = 0;
  auto text = sys::read_text_file(file);
  if (!text) {
    throw SettingsError(fmt::format("cannot read '{}': {}", file.string(),
                                    std::strerror(errno != 0 ? errno : EIO)));
  }
  for (const auto& [n, key, value] : sys::parse_settings(*text)) {
    if (key != k_manage_key) {
      throw SettingsError(fmt::format("{}:{}: unknown setting '{}' (known: {})", file.string(), n,
                                      key, k_manage_key));
    }
    if (value == "yes" || value == "on") {
      s.manage_ksm = true;
    } else if (value == "no" || value == "off") {
      s.manage_ksm = false;
    } else {
      throw SettingsError(fmt::format("{}:{}: {} must be yes or no, not '{}'", file.string(), n,
                                      k_manage_key, value));
    }
  }
  return s;
}

void write_manage_ksm(const std::filesystem::path& file, bool manage) {
  read_settings(file); // refuse to rewrite a file we do not understand
  std::string out;
  bool replaced = false;
  if (auto text = sys::read_text_file(file)) {
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) {
      if (sys::trim(line.substr(0, line.find('#'))).starts_with(k_manage_key)) {
        if (replaced) {
          continue;
        }
        line = fmt::format("{} = {}", k_manage_key, manage ? "yes" : "no");
        replaced = true;
      }
      out += line + "\n";
    }
  } else {
    out = "# vboxkvm page fusion (see vboxmanage-pagefusion(1)).\n"
          "# manage-ksm yes: vboxkvm runs the host's KSM while page-fusion guests run, with an\n"
          "# adaptive scan rate, and gives it back as found afterwards. no: KSM is left alone.\n";
  }
  if (!replaced) {
    out += fmt::format("{} = {}\n", k_manage_key, manage ? "yes" : "no");
  }
  try {
    prepare_host_dir(file.parent_path(), "vboxkvm settings directory");
    sys::write_file_atomic(file, out, 0644, true);
  } catch (const SettingsError&) {
    throw;
  } catch (const Error& e) {
    throw SettingsError(e.what());
  }
}

} // namespace vbm::pagefusion
