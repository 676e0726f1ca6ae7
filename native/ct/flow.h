// The flow codec: a ctnetlink message (dump reply, event, or the conntrack nest of an NFLOG
// packet) decoded into a fixed-layout record of 32-bit words plus its strings.
//
// lib/conntrack/flow.ts reads the same layout; FLOW_LAYOUT_VERSION guards the pair. A record holds
// FLOW_WORDS words; its strings (addresses as text, helper, security context) follow in the
// batch's string list in a fixed order: original src/dst, reply src/dst, master src/dst (each
// tuple only when present), helper, secctx.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <string>

namespace nfct {
namespace ct {

constexpr uint32_t FLOW_LAYOUT_VERSION = 1;

// Presence bits (word W_PRESENT).
enum FlowPresent : uint32_t {
  P_ORIG = 1u << 0,
  P_REPLY = 1u << 1,
  P_MASTER = 1u << 2,
  P_ID = 1u << 3,
  P_STATUS = 1u << 4,
  P_TIMEOUT = 1u << 5,
  P_MARK = 1u << 6,
  P_SECMARK = 1u << 7,
  P_USE = 1u << 8,
  P_ZONE = 1u << 9,
  P_LABELS = 1u << 10,
  P_COUNTERS_ORIG = 1u << 11,
  P_COUNTERS_REPLY = 1u << 12,
  P_TS_START = 1u << 13,
  P_TS_STOP = 1u << 14,
  P_TCP = 1u << 15,
  P_SCTP = 1u << 16,
  P_DCCP = 1u << 17,
  P_HELPER = 1u << 18,
  P_SECCTX = 1u << 19,
  P_SEQADJ_ORIG = 1u << 20,
  P_SEQADJ_REPLY = 1u << 21,
  P_SYNPROXY = 1u << 22,
  P_TS_EVENT = 1u << 23,
};

// Tuple presence bits (word T_META of a tuple block, above the l4 protocol byte).
enum TuplePresent : uint32_t {
  TP_PROTO = 1u << 8,
  TP_PORTS = 1u << 9,
  TP_ICMP = 1u << 10,
  TP_ZONE = 1u << 11,
  TP_ADDRS = 1u << 12,
};

// A tuple block: 4 words.
enum TupleWord : uint32_t {
  T_META = 0,   // l4 protocol number | TP_* bits
  T_PORTS = 1,  // source port | destination port << 16 (GRE: keys)
  T_ICMP = 2,   // type | code << 8 | id << 16
  T_ZONE = 3,
  TUPLE_WORDS = 4,
};

enum FlowWord : uint32_t {
  W_PRESENT = 0,
  W_KIND = 1,  // l3 family | l4 protocol << 8 | message type << 16 (IPCTNL_MSG_CT_*) | flags << 24
  W_ID = 2,
  W_STATUS = 3,
  W_TIMEOUT = 4,
  W_MARK = 5,
  W_SECMARK = 6,
  W_USE = 7,
  W_ZONE = 8,
  W_LABELS = 9,  // 4 words, bit i of the label set is bit (i % 32) of word (i / 32)
  W_COUNTERS = 13,  // orig packets lo/hi, orig bytes lo/hi, reply packets lo/hi, reply bytes lo/hi
  W_TS_START = 21,  // lo/hi, nanoseconds since the epoch
  W_TS_STOP = 23,
  W_PROTO = 25,  // state, then 4 words: TCP wscale o|r<<8, flags o (flags|mask<<8), flags r;
                 // SCTP vtag o, vtag r; DCCP role, handshake seq lo/hi
  W_ORIG = 30,
  W_REPLY = 34,
  W_MASTER = 38,
  W_SEQADJ_ORIG = 42,   // correction position, offset before, offset after
  W_SEQADJ_REPLY = 45,
  W_SYNPROXY = 48,      // isn, its, tsoff
  W_TS_EVENT = 51,      // lo/hi
  W_PORTID = 53,        // events: the netlink port id of the process that made the change, 0: the kernel
  FLOW_WORDS = 56,
};

// Message-kind flags (top byte of W_KIND).
enum FlowKindFlags : uint32_t {
  K_DUMP_INTR = 1u << 0,  // the kernel's dump was interrupted by a table change
  K_CREATE = 1u << 1,     // an event for a new entry (NLM_F_CREATE): [NEW], not [UPDATE]
  K_TS_RECEIVED = 1u << 2,  // W_TS_EVENT holds the receive time, the kernel sent none
};

// A decoded flow: the record words, the raw addresses (for matching), and its strings.
struct Flow {
  uint32_t w[FLOW_WORDS];
  uint8_t addr[3][2][16];  // [orig|reply|master][src|dst], network order, IPv4 in the first 4
  std::string helper;
  std::string secctx;

  uint8_t family() const { return static_cast<uint8_t>(w[W_KIND] & 0xff); }
  uint8_t l4proto() const { return static_cast<uint8_t>((w[W_KIND] >> 8) & 0xff); }
  bool has(uint32_t bit) const { return (w[W_PRESENT] & bit) != 0; }
};

// Decodes one ctnetlink conntrack message (IPCTNL_MSG_CT_NEW / _DELETE). Returns false when
// the message is malformed; nothing partial is kept then.
bool DecodeFlowMessage(const nlmsghdr* nlh, Flow* out);

// Decodes a bare run of CTA_* attributes (as nested in NFLOG's NFULA_CT).
bool DecodeFlowAttrs(const void* data, size_t len, uint8_t family, Flow* out);

// Decodes a CTA_TUPLE_* nest into a tuple block (TUPLE_WORDS) and its two addresses.
bool DecodeTupleInto(const nlattr* nest, uint32_t* tuple, uint8_t (*addr)[16]);

// Appends a tuple's two addresses as text, each followed by a NUL (empty when absent).
void AppendTupleStrings(bool v6, const uint32_t* tuple, const uint8_t (*addr)[16], std::string* out);

// Appends the flow's strings, each followed by a NUL, in the documented order.
void AppendFlowStrings(const Flow& flow, std::string* out);

}  // namespace ct
}  // namespace nfct
