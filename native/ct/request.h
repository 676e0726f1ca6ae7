// Building ctnetlink requests from the plain values lib/ hands over.
#pragma once

#include "layout/layouts.h"

#include <napi.h>

#include <cstdint>
#include <string>

#include "nl.h"

namespace nfct {
namespace ct {

// A tuple as lib/conntrack/tuple.ts normalises it.
struct TupleSpec {
  uint8_t family = 0;  // AF_INET / AF_INET6
  uint8_t protocol = 0;
  uint8_t src[16] = {0};
  uint8_t dst[16] = {0};
  int32_t sport = -1, dport = -1;
  int32_t icmp_type = -1, icmp_code = -1, icmp_id = -1;
  int32_t zone = -1;        // CTA_ZONE: the entry's zone (both directions)
  int32_t tuple_zone = -1;  // CTA_TUPLE_ZONE: the zone of this direction only
};

// Reads a normalised tuple object; false with a JS exception pending when malformed.
bool ParseTuple(const Napi::Value& v, TupleSpec* out);

// Appends a CTA_TUPLE_* nest (type: CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, ...).
void PutTuple(nlmsghdr* nlh, uint16_t type, const TupleSpec& t);

// Source or destination NAT of a created entry (CTA_NAT_SRC / CTA_NAT_DST).
struct NatSpec {
  bool set = false;
  uint8_t addr[16] = {0};
  int32_t port = -1;
};

// What a create or an update sends, as lib/conntrack/flowspec.ts packs it. -1 / unset: not sent.
struct FlowSpec {
  TupleSpec orig;
  TupleSpec reply;  // reply.family == 0: not sent (the kernel inverts the original)
  bool has_reply = false;
  int64_t timeout = -1;
  int64_t status = -1;
  int64_t mark = -1;
  int64_t mark_mask = -1;
  int32_t zone = -1;
  int32_t tcp_state = -1;
  int32_t sctp_state = -1;
  int64_t vtag_orig = -1, vtag_reply = -1;
  bool labels_set = false;
  uint32_t labels[4] = {0};
  uint32_t labels_mask[4] = {0};
  bool labels_mask_set = false;
  std::string helper;
  NatSpec snat, dnat;
};

// Reads one packed spec; `helper` is its helper name (used when SPEC_HAS_HELPER is set).
void UnpackFlowSpec(const uint32_t* w, const std::string& helper, FlowSpec* out);

// Appends the attributes of a create (IPCTNL_MSG_CT_NEW) or update to the message.
void PutFlowSpec(nlmsghdr* nlh, const FlowSpec& f);

}  // namespace ct
}  // namespace nfct
