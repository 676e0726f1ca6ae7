// The filter model on the native side: one normalised filter (built and validated by
// lib/conntrack/filter.ts) that is both sent to the kernel, as far as the running kernel can apply it,
// and matched here against every decoded flow, so the result never depends on which parts the
// kernel honoured.
#pragma once

#include <napi.h>

#include <cstdint>

#include "ct/flow.h"
#include "nl.h"

namespace nfct {
namespace ct {

struct AddrMatch {
  bool set = false;
  uint8_t bytes[16] = {0};
  uint8_t prefix = 0;  // bits
};

struct TupleMatch {
  AddrMatch src, dst;
  int32_t sport = -1, dport = -1;  // -1: any
  int32_t zone = -1;               // per-direction tuple zone
};

struct FlowFilter {
  uint8_t family = 0;    // 0: any; AF_INET / AF_INET6
  int32_t l4proto = -1;  // -1: any
  TupleMatch orig, reply;
  bool mark_set = false;
  uint32_t mark = 0, mark_mask = 0;
  bool status_set = false;
  uint32_t status = 0, status_mask = 0;
  int32_t zone = -1;
  uint32_t tcp_states = 0;  // bit per TCP conntrack state; 0: any
  bool labels_set = false;
  uint32_t labels[4] = {0};  // every label here must be set on the flow
  bool kernel = true;        // send what the kernel can apply

  bool empty() const;
};

// Reads the normalised filter object lib/conntrack/filter.ts produces. Returns false (with a JS
// exception pending) when its shape is wrong.
bool ParseFilter(const Napi::Value& v, FlowFilter* out);

// Adds the parts the kernel can apply to a dump request (family goes in the header).
// Returns true when anything beyond the family was added.
bool AddKernelFilter(const FlowFilter& f, NlRequest* req);

bool Matches(const FlowFilter& f, const Flow& flow);

}  // namespace ct
}  // namespace nfct
