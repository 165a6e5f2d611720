#pragma once
// A fresh temporary directory for one test, removed with the object unless the test failed:
// then it is kept, and its path printed, so what the test left can be looked at (ccache's
// TestContext). The one temp-directory helper of the C++ tests. The fuzzers, which have no
// GoogleTest, define VBM_NO_GTEST: their directories are always removed.

#ifndef VBM_NO_GTEST
#include <gtest/gtest.h>
#endif

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace vbm::test {

class TempDir {
public:
  explicit TempDir(const std::string& prefix = "vbm-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("cannot create a temporary directory");
    }
    m_path = tmpl;
  }
  ~TempDir() {
#ifndef VBM_NO_GTEST
    if (testing::Test::HasFailure()) {
      std::cerr << "kept " << m_path.string() << " (the test failed)\n";
      return;
    }
#endif
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::string& rel) const { return m_path / rel; }

private:
  std::filesystem::path m_path;
};

} // namespace vbm::test
