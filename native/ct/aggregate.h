// Aggregation over a dump: each matching flow is keyed and counted on the reader thread, and
// only the groups cross into JS (no record per flow).
//
// The layout is in native/layout/layouts.h (lib/conntrack/aggregate.ts reads it from
// lib/core/layout.ts). The final batch holds 1 + n records of GroupWords(keys) words: the first
// is the total over every matching flow (its key words are zero), then the top n groups, best
// first. A record is, for each key, AGG_KEY_WORDS words (meta, value, address), then the
// AggGroupWord tail (count, counters, flags). The strings hold, per record and per key, the
// address as text (empty for keys without one), each followed by a NUL.
#pragma once

#include <cstdint>

#include "layout/layouts.h"

namespace nfct {
namespace ct {

inline uint32_t GroupWords(uint32_t keys) { return keys * AGG_KEY_WORDS + AGG_GROUP_TAIL; }

}  // namespace ct
}  // namespace nfct
