// Building ctnetlink requests from the plain values lib/ hands over.
#pragma once

#include <napi.h>

#include <cstdint>

#include "nl.h"

namespace nfct {
namespace ct {

// A tuple as lib/tuple.ts normalises it.
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

}  // namespace ct
}  // namespace nfct
