// Building ctnetlink requests from the plain values lib/ hands over.
#pragma once

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

// What a create or an update sends, as lib/mutate.ts normalises it. -1 / unset: not sent.
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

// Flow specs cross from lib/conntrack/flowspec.ts packed, SPEC_WORDS 32-bit words each (reading JS
// object properties one by one costs more than the kernel's whole create).
enum SpecFlags : uint32_t {
  SF_REPLY = 1u << 0,
  SF_TIMEOUT = 1u << 1,
  SF_STATUS = 1u << 2,
  SF_MARK = 1u << 3,
  SF_MARK_MASK = 1u << 4,
  SF_ZONE = 1u << 5,
  SF_TCP_STATE = 1u << 6,
  SF_SCTP_STATE = 1u << 7,
  SF_VTAG = 1u << 8,
  SF_LABELS = 1u << 9,
  SF_LABELS_MASK = 1u << 10,
  SF_SNAT = 1u << 11,
  SF_SNAT_PORT = 1u << 12,
  SF_DNAT = 1u << 13,
  SF_DNAT_PORT = 1u << 14,
  SF_HELPER = 1u << 15,  // the name is in the helpers array, at the spec's index
};

// A packed tuple: src (4 words, the address bytes), dst (4), ports, ICMP, flags, tuple zone.
enum SpecTupleWord : uint32_t { ST_SRC = 0, ST_DST = 4, ST_PORTS = 8, ST_ICMP = 9, ST_FLAGS = 10, ST_ZONE = 11, SPEC_TUPLE_WORDS = 12 };
enum SpecTupleFlags : uint32_t { STF_PORTS = 1u << 0, STF_ICMP = 1u << 1, STF_ZONE = 1u << 2 };

enum SpecWord : uint32_t {
  S_FLAGS = 0,
  S_KIND = 1,  // family | protocol << 8
  S_ORIG = 2,
  S_REPLY = 14,
  S_TIMEOUT = 26,
  S_STATUS = 27,
  S_MARK = 28,
  S_MARK_MASK = 29,
  S_ZONE = 30,
  S_STATE = 31,
  S_VTAG_ORIG = 32,
  S_VTAG_REPLY = 33,
  S_LABELS = 34,       // 4 words
  S_LABELS_MASK = 38,  // 4 words
  S_SNAT = 42,         // 4 words of address, then the port
  S_DNAT = 47,
  SPEC_WORDS = 52,
};

// Reads one packed spec; `helper` is its helper name (used when SF_HELPER is set).
void UnpackFlowSpec(const uint32_t* w, const std::string& helper, FlowSpec* out);

// Appends the attributes of a create (IPCTNL_MSG_CT_NEW) or update to the message.
void PutFlowSpec(nlmsghdr* nlh, const FlowSpec& f);

}  // namespace ct
}  // namespace nfct
