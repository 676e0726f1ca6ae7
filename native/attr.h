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

// Checked reads into record words, for decoders that answer false on a malformed message:
// false when the payload is shorter than `bytes` (1, 2, 4 or 8, big-endian).
inline bool Read(const nlattr* a, size_t bytes, uint64_t* v) {
  if (!Len(a, bytes)) return false;
  if (bytes == 1) *v = U8(a);
  else if (bytes == 2) *v = Be16(a);
  else if (bytes == 4) *v = Be32(a);
  else *v = Be64(a);
  return true;
}
// The value as the whole word *w.
inline bool Get(const nlattr* a, size_t bytes, uint32_t* w) {
  uint64_t v = 0;
  if (!Read(a, bytes, &v)) return false;
  *w = static_cast<uint32_t>(v);
  return true;
}
// The value as the two words of a 64-bit one (Put64), whatever its size on the wire.
inline bool Get64(const nlattr* a, size_t bytes, uint32_t* w) {
  uint64_t v = 0;
  if (!Read(a, bytes, &v)) return false;
  Put64(w, v);
  return true;
}
// The value (1 or 2 bytes) into the bits of *w from `shift` on; the other bits are kept.
inline bool GetAt(const nlattr* a, size_t bytes, uint32_t* w, unsigned shift) {
  uint64_t v = 0;
  if (!Read(a, bytes, &v)) return false;
  const uint32_t mask = (bytes == 1 ? 0xffu : 0xffffu) << shift;
  *w = (*w & ~mask) | (static_cast<uint32_t>(v) << shift);
  return true;
}
// Sets `bit` in a presence word; true, so that it chains after a read: GetAt(...) && Mark(...).
inline bool Mark(uint32_t* present, uint32_t bit) {
  *present |= bit;
  return true;
}
// The value as the whole word *w, and `bit` in *present; neither when it is short (false).
inline bool GetField(const nlattr* a, size_t bytes, uint32_t* w, uint32_t* present, uint32_t bit) {
  return Get(a, bytes, w) && Mark(present, bit);
}

// An attribute that is one value in one word of a record: its type, its size on the wire, the
// word, and the record's presence bit for it.
struct Scalar {
  uint16_t type;
  uint8_t bytes;
  uint32_t word;
  uint32_t bit;
};

// When `a` is one of `table`'s attributes: its value into its word of `w`, its bit into
// *present (a short value is skipped), and true. False when it is none of them.
template <size_t N>
bool GetScalar(const nlattr* a, const Scalar (&table)[N], uint32_t* w, uint32_t* present) {
  for (const Scalar& s : table) {
    if (s.type != Type(a)) continue;
    GetField(a, s.bytes, &w[s.word], present, s.bit);
    return true;
  }
  return false;
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
  return ForEach(reinterpret_cast<const char*>(nlh) + NLMSG_HDRLEN + NLMSG_ALIGN(header), payload - NLMSG_ALIGN(header),
                 fn);
}

}  // namespace attr
}  // namespace nfct
