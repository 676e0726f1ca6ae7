// The one attribute reader: access to netlink attributes, inlined (the libmnl
// calls are not, and this is the hot loop of every dump and stream). Every decoder (ct/flow.cc,
// ct/expect.cc, log/nflog.cc, trace/nftrace.cc) reads attributes through these.
#pragma once

#include <endian.h>
#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace nfct {
namespace attr {

inline uint16_t Type(const nlattr* a) { return a->nla_type & NLA_TYPE_MASK; }
inline const void* Payload(const nlattr* a) { return reinterpret_cast<const char*>(a) + NLA_HDRLEN; }
inline size_t PayloadLen(const nlattr* a) { return a->nla_len - NLA_HDRLEN; }
// Whether the payload holds at least `want` bytes: check before reading a value.
inline bool Len(const nlattr* a, size_t want) { return PayloadLen(a) >= want; }

inline uint8_t U8(const nlattr* a) { return *static_cast<const uint8_t*>(Payload(a)); }
inline uint16_t Be16(const nlattr* a) {
  uint16_t v;
  memcpy(&v, Payload(a), sizeof(v));
  return be16toh(v);
}
inline uint32_t Be32(const nlattr* a) {
  uint32_t v;
  memcpy(&v, Payload(a), sizeof(v));
  return be32toh(v);
}
inline uint64_t Be64(const nlattr* a) {
  uint64_t v;
  memcpy(&v, Payload(a), sizeof(v));
  return be64toh(v);
}
// A string attribute, up to its NUL or its end.
inline std::string Str(const nlattr* a) {
  const char* s = static_cast<const char*>(Payload(a));
  return std::string(s, strnlen(s, PayloadLen(a)));
}

// A 64-bit value as two record words, low first.
inline void Put64(uint32_t* w, uint64_t v) {
  w[0] = static_cast<uint32_t>(v);
  w[1] = static_cast<uint32_t>(v >> 32);
}

// Calls fn(attr) for each attribute of a run (a message's payload after its header, or a
// nest's payload); fn returns false to stop. False when an attribute overruns the run.
template <typename F>
bool ForEach(const void* data, size_t len, F&& fn) {
  const char* p = static_cast<const char*>(data);
  size_t left = len;
  while (left >= sizeof(nlattr)) {
    const nlattr* a = reinterpret_cast<const nlattr*>(p);
    if (a->nla_len < sizeof(nlattr) || a->nla_len > left) return false;
    if (!fn(a)) return false;
    const size_t step = NLA_ALIGN(a->nla_len);
    if (step >= left) break;
    left -= step;
    p += step;
  }
  return true;
}

template <typename F>
bool ForEachNested(const nlattr* nest, F&& fn) {
  return ForEach(Payload(nest), PayloadLen(nest), fn);
}

// The attributes of a message after `header` bytes of payload (nfgenmsg for netfilter).
template <typename F>
bool ForEachInMessage(const nlmsghdr* nlh, size_t header, F&& fn) {
  const size_t payload = nlh->nlmsg_len - NLMSG_HDRLEN;
  if (payload < NLMSG_ALIGN(header)) return false;
  return ForEach(reinterpret_cast<const char*>(nlh) + NLMSG_HDRLEN + NLMSG_ALIGN(header), payload - NLMSG_ALIGN(header), fn);
}

}  // namespace attr
}  // namespace nfct
