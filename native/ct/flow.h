// The flow codec: a ctnetlink message (dump reply, event, or the conntrack nest of an NFLOG
// packet) decoded into a fixed-layout record of 32-bit words plus its strings.
//
// lib/conntrack/flow.ts reads the same layout (native/layout/layouts.h). A record holds
// FLOW_WORDS words; its strings (addresses as text, helper, security context) follow in the
// batch's string list in a fixed order: original src/dst, reply src/dst, master src/dst (each
// tuple only when present), helper, secctx.
#pragma once

#include "layout/layouts.h"

#include <linux/netlink.h>

#include <cstdint>
#include <string>

namespace nfct {
namespace ct {

// A decoded flow: the record words, the raw addresses (for matching), and its strings.
struct Flow {
  uint32_t w[FLOW_WORDS];
  uint8_t addr[3][2][16];  // [orig|reply|master][src|dst], network order, IPv4 in the first 4
  std::string helper;
  std::string secctx;

  uint8_t family() const { return static_cast<uint8_t>(w[FLOW_KIND] & 0xff); }
  uint8_t l4proto() const { return static_cast<uint8_t>((w[FLOW_KIND] >> 8) & 0xff); }
  bool has(uint32_t bit) const { return (w[FLOW_PRESENT] & bit) != 0; }
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
