// The Services of a ruleset (lib/k8s/services.ts) as native code looks them up while it formats
// -L lines (text.cc): per original destination, the Service port's name and its endpoints, so
// that `nfct -L --services` appends ` service=NAME endpoint=IP:PORT` without a Flow object per
// entry. Built once per listing from a text the Services object writes; looked up by an
// open-addressing hash of the address text as the record holds it, with no allocation.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nfct {
namespace ct {

struct ServicePortEntry {
  unsigned proto = 0;  // 0: any protocol
  int port = -1;       // -1: any port
  std::string address;
  std::string name;
  // Address and port (-1: the packet keeps its port).
  std::vector<std::pair<std::string, int>> endpoints;
};

class ServiceTable {
 public:
  void Add(ServicePortEntry e);
  void Seal();  // builds the hash once every entry is in

  const ServicePortEntry* Find(unsigned proto, const char* addr, size_t addr_len, unsigned port) const;
  static bool IsEndpoint(const ServicePortEntry& e, const char* addr, size_t addr_len, unsigned port);

 private:
  const ServicePortEntry* Probe(unsigned proto, const char* addr, size_t addr_len, int port) const;
  static uint64_t Hash(unsigned proto, const char* addr, size_t addr_len, int port);

  std::vector<ServicePortEntry> entries_;
  std::vector<int32_t> slots_;
  bool wildcards_ = false;
};

// The table a `services` option of formatFlows() holds, or null when the value is not one.
const ServiceTable* ServiceTableOf(napi_env env, napi_value value);

void InitServiceTable(Napi::Env env, Napi::Object exports);

}  // namespace ct
}  // namespace nfct
