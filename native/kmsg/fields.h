// The fields of a LOG line after `IN= OUT=`, read token by token as lib/nflog/logline-parse.ts's
// Walker reads them, into record words (a line the record cannot carry is marked complex).
#pragma once

#include <cstring>

#include "kmsg/chars.h"
#include "kmsg/line.h"

namespace nfct {
namespace klog {

// One packet's IP and transport fields: the line's, or the one an ICMP error quotes.
struct Level {
  uint32_t w[KLOG_WORDS];
  uint32_t p = 0, q = 0;
  bool l4 = false, tcp = false, icmp = false;
  uint32_t ip_flags_last = 0, tcp_flags_last = 0;
  sv src, dst, ipopt, proto, tcpopt;
  // The words start cleared (the quoted packet's only once there is one: most lines have none).
  explicit Level(bool clear = true) {
    if (clear) Clear();
  }
  void Clear() { memset(w, 0, sizeof(w)); }
};

// The fields of one LOG line, as far as a record carries them.
struct Fields {
  Level top, inner{false};
  bool has_inner = false;
  bool complex = false;
  sv in, out, physin, physout, macsrc, macdst, mac;
};

// Reads the words after `IN= OUT=` into f.
void Walk(sv rest, Fields* f);

// The id the hops of one packet share (a hash of its header words).
uint32_t HopId(sv rest);

// Whether a record read whole matches the filter's address and port conditions.
bool Matches(const Filter& f, const Level& x);

}  // namespace klog
}  // namespace nfct
