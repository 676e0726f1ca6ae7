// The kernel log's lines decoded into fixed-layout records (read by lib/kmsg/decode.ts): the
// LOG target's lines (-j LOG, nft log without group) and legacy TRACE lines, as /dev/kmsg, a
// syslog file, dmesg or a journal export hold them. The fields follow lib/nflog/logline-parse.ts
// token for token; a line holding more than a record carries (KLOG_HAS_COMPLEX) is left to it.
#pragma once

#include <cstdint>
#include <ctime>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

#include "layout/layouts.h"
#include "reader.h"

namespace nfct {
namespace klog {

// What to keep, as lib/kmsg/filter.ts normalises it. Address and port conditions apply to the
// packet's outer header; a line the record cannot carry (KLOG_HAS_COMPLEX) passes them here and is
// matched by lib/ once parsed.
struct Filter {
  bool packets = true;  // LOG lines
  bool hops = true;     // legacy TRACE lines as hops (else as packets)
  bool lines = false;   // every other line, its message only
  std::string prefix;   // the rule's prefix starts with it
  bool has_prefix = false;
  int family = 0;  // 4, 6, or 0: any
  int64_t protocol = -1;
  struct Net {
    bool set = false;
    int family = 0;  // 4 or 6
    uint8_t addr[16] = {};
    int bits = 0;
  } src, dst;
  int port = -1, sport = -1, dport = -1;
};

// What came with a message: from a /dev/kmsg record, a line's syslog or dmesg head, or a
// journal entry.
struct Envelope {
  bool has_seq = false;
  uint64_t seq = 0;
  int level = -1;
  int facility = -1;
  bool has_time = false;
  uint64_t time_ns = 0;
  bool has_ktime = false;
  uint64_t ktime_us = 0;
  std::string_view host;
  // The line comes from the kernel (facility 0 of /dev/kmsg, a `kernel` syslog tag, or a line
  // without a head): only then is it read as a LOG or TRACE line.
  bool kernel = true;
};

// Local times of syslog heads (`Jun 13 19:58:21`, no year, no zone) to the epoch, cached by
// the hour: mktime() is slow, and a file's lines come mostly in order.
class Clock {
 public:
  Clock();
  // Seconds since the epoch of a local time; year < 0: the year that puts it no more than a
  // day in the future.
  int64_t Local(int year, int mon, int day, int hour, int min, int sec);

 private:
  int key_ = -1;
  int64_t base_ = 0;
  int this_year_ = 1970;
  int64_t now_ = 0;
};

// The strings a stream's lines repeat, numbered in the order they first came (KL_*ID words).
class Interner {
 public:
  // The last string one field of the lines had, and its number: a line mostly repeats the
  // line before it (its prefix, interfaces, protocol, host), which then costs no hash lookup.
  struct Recent {
    std::string text;
    uint32_t id = 0;
    uint64_t generation = ~0ull;
  };

  // Its number; *fresh when it is new (the record that uses it first carries it).
  uint32_t Id(std::string_view s, bool* fresh);
  // The same, asking `recent` first (and remembering s there).
  uint32_t Id(std::string_view s, bool* fresh, Recent* recent);
  // Starts over when full; true when it did (the next record says so: KLOG_FRESH_RESET).
  bool ResetIfFull();

 private:
  static constexpr size_t kMaxStrings = 4096;
  static constexpr size_t kMaxBytes = 1 << 20;
  std::deque<std::string> store_;
  std::unordered_map<std::string_view, uint32_t> ids_;
  size_t bytes_ = 0;
  uint64_t generation_ = 0;  // one more at each start over: what Recent remembered is void
};

class LineDecoder {
 public:
  explicit LineDecoder(Filter f) : f_(std::move(f)) {}

  // A message with its envelope: adds a record when it matches. Returns true when it did.
  bool Message(const Envelope& env, const char* msg, size_t len, Batch* batch);
  // One line of text (syslog, dmesg, journalctl -o short*): the head, then the message.
  bool TextLine(const char* line, size_t len, Batch* batch);
  // One line of `journalctl -o json`. False (malformed) when it is not a JSON object.
  bool JsonLine(const char* line, size_t len, Batch* batch, bool* malformed);
  // One /dev/kmsg record (`prio,seq,usec,flags[,...];text\n[ KEY=value\n]...`); `offset_ns` turns
  // its time since boot into wall-clock time. *seq: its sequence number.
  bool KmsgRecord(const char* rec, size_t len, int64_t offset_ns, Batch* batch, uint64_t* seq, bool* malformed);
  // Records lost between sequence numbers `before` - lost - 1 and `before`.
  void Loss(uint64_t lost, uint64_t before, Batch* batch);

 private:
  Filter f_;
  Clock clock_;
  Interner names_;
  // By field: prefix, table, chain, IN, OUT, PHYSIN, PHYSOUT, host, and the protocol of the
  // line's packet and of the one an ICMP error quotes.
  enum { kPrefix, kTable, kChain, kIn, kOut, kPhysIn, kPhysOut, kHost, kProto, kInnerProto, kRecent };
  Interner::Recent recent_[kRecent];
  // The syslog head (time, host, tag) of the last line that had one, and what it said (its
  // host `head_host_at_` bytes into it).
  std::string head_;
  Envelope head_env_;
  size_t head_host_at_ = 0;
  std::string scratch_;  // a message unescaped or unquoted
};

}  // namespace klog
}  // namespace nfct
