#include "kmsg/line.h"

#include "kmsg/chars.h"
#include "kmsg/fields.h"

namespace nfct {
namespace klog {

namespace {

// Where `IN=... OUT=... ` is (lib/nflog/logline-parse.ts RE_IN_OUT, else RE_IN_ONLY).
struct InOut {
  bool found = false;
  bool has_out = false;
  size_t at = 0;  // where IN= starts: the prefix is what comes before
  sv in, out;
  size_t rest = 0;  // where the fields after them start
};

size_t RunOf(sv t, size_t i) {
  while (i < t.size() && !JsSpace(t[i]) && t[i] != '=') i++;
  return i;
}

InOut FindInOut(sv t) {
  InOut r;
  for (size_t pos = t.find("IN="); pos != sv::npos; pos = t.find("IN=", pos + 1)) {
    const size_t i = pos + 3;
    const size_t j = RunOf(t, i);
    if (t.compare(j, 5, " OUT=") != 0) continue;
    const size_t k = j + 5;
    const size_t m = RunOf(t, k);
    if (m < t.size() && t[m] != ' ') continue;
    r.found = r.has_out = true;
    r.at = pos;
    r.in = t.substr(i, j - i);
    r.out = t.substr(k, m - k);
    r.rest = m < t.size() ? m + 1 : m;
    return r;
  }
  for (size_t pos = t.find("IN="); pos != sv::npos; pos = t.find("IN=", pos + 1)) {
    const size_t i = pos + 3;
    const size_t j = RunOf(t, i);
    if (j < t.size() && t[j] != ' ') continue;
    r.found = true;
    r.at = pos;
    r.in = t.substr(i, j - i);
    r.rest = j < t.size() ? j + 1 : j;
    return r;
  }
  return r;
}

// `TRACE: table:chain:rule|return|policy:N ` (lib/trace/handle.ts parseTracePrefix).
struct Hop {
  sv table, chain;
  uint32_t kind = 0;
  uint32_t rule = 0;
};

bool ParseHop(sv prefix, Hop* hop) {
  size_t b = 0;
  while (b < prefix.size() && JsSpace(prefix[b])) b++;
  sv s = prefix.substr(b);
  if (!StartsWith(s, "TRACE: ")) return false;
  s.remove_prefix(7);
  if (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  size_t d = s.size();
  while (d > 0 && Digit(s[d - 1])) d--;
  const size_t digits = s.size() - d;
  if (digits == 0 || digits > 10 || d == 0 || s[d - 1] != ':') return false;
  uint32_t rule = 0;
  if (!Dec(s.substr(d), &rule)) return false;  // more than 32 bits: not a rule number
  const size_t kind_end = d - 1;               // the colon before the number
  if (kind_end == 0) return false;
  const size_t kind_start = s.rfind(':', kind_end - 1);
  if (kind_start == sv::npos) return false;
  const sv kind = s.substr(kind_start + 1, kind_end - kind_start - 1);
  if (kind == "rule") hop->kind = KLOG_HOP_RULE;
  else if (kind == "return") hop->kind = KLOG_HOP_RETURN;
  else if (kind == "policy") hop->kind = KLOG_HOP_POLICY;
  else return false;
  const size_t colon = s.find(':');
  if (colon == 0 || colon >= kind_start) return false;
  hop->table = s.substr(0, colon);
  hop->chain = s.substr(colon + 1, kind_start - colon - 1);
  if (hop->chain.empty()) return false;
  for (unsigned char c : hop->table)
    if (JsSpace(c)) return false;
  for (unsigned char c : hop->chain)
    if (JsSpace(c)) return false;
  hop->rule = rule;
  return true;
}

void PutEnvelope(const Envelope& env, uint32_t* w, uint32_t* p, uint32_t* q) {
  if (env.has_seq) {
    w[KLOG_SEQ] = static_cast<uint32_t>(env.seq);
    w[KLOG_SEQ + 1] = static_cast<uint32_t>(env.seq >> 32);
    *p |= KLOG_HAS_SEQ;
  }
  if (env.has_time) {
    w[KLOG_TIME] = static_cast<uint32_t>(env.time_ns);
    w[KLOG_TIME + 1] = static_cast<uint32_t>(env.time_ns >> 32);
    *p |= KLOG_HAS_TIME;
  }
  if (env.has_ktime) {
    w[KLOG_KTIME] = static_cast<uint32_t>(env.ktime_us);
    w[KLOG_KTIME + 1] = static_cast<uint32_t>(env.ktime_us >> 32);
    *p |= KLOG_HAS_KTIME;
  }
  if (env.level >= 0) {
    w[KLOG_KIND] |= static_cast<uint32_t>(env.level & 7) << 8;
    *p |= KLOG_HAS_LEVEL;
  }
  if (env.facility >= 0) {
    w[KLOG_KIND] |= static_cast<uint32_t>(env.facility & 0xffff) << 16;
    *q |= KLOG_HAS2_FACILITY;
  }
  if (!env.host.empty()) *q |= KLOG_HAS2_HOST;
}

}  // namespace

uint32_t Interner::Id(sv s, bool* fresh) {
  auto it = ids_.find(s);
  if (it != ids_.end()) {
    *fresh = false;
    return it->second;
  }
  store_.emplace_back(s);
  const uint32_t id = static_cast<uint32_t>(ids_.size());
  ids_.emplace(sv(store_.back()), id);
  bytes_ += s.size();
  *fresh = true;
  return id;
}

uint32_t Interner::Id(sv s, bool* fresh, Recent* recent) {
  if (recent->generation == generation_ && sv(recent->text) == s) {
    *fresh = false;
    return recent->id;
  }
  const uint32_t id = Id(s, fresh);
  recent->text.assign(s.data(), s.size());
  recent->id = id;
  recent->generation = generation_;
  return id;
}

bool Interner::ResetIfFull() {
  if (ids_.size() < kMaxStrings && bytes_ < kMaxBytes) return false;
  ids_.clear();
  store_.clear();
  bytes_ = 0;
  generation_++;
  return true;
}

bool LineDecoder::Message(const Envelope& env, const char* msg, size_t len, Batch* batch) {
  const sv text(msg, len);
  // Strings cross into JS NUL-separated: a line holding a NUL byte is not read (counted).
  if (text.find('\0') != sv::npos || env.host.find('\0') != sv::npos) {
    batch->malformed++;
    return false;
  }
  const InOut io = env.kernel ? FindInOut(text) : InOut();
  Hop hop;
  uint32_t kind = KLOG_KIND_LINE;
  const sv prefix = io.found ? text.substr(0, io.at) : sv();
  if (io.found) kind = f_.hops && ParseHop(prefix, &hop) ? KLOG_KIND_HOP : KLOG_KIND_PACKET;
  if (kind == KLOG_KIND_PACKET && !f_.packets) return false;
  if (kind == KLOG_KIND_LINE && !f_.lines) return false;
  if (kind == KLOG_KIND_PACKET && f_.has_prefix && !StartsWith(prefix, f_.prefix)) return false;

  Fields x;
  Level& top = x.top;
  if (kind != KLOG_KIND_LINE) {
    x.in = io.in;
    top.p |= KLOG_HAS_IN;
    if (io.has_out) x.out = io.out, top.p |= KLOG_HAS_OUT;
    else x.complex = true;  // the older form without OUT=
    const sv rest = text.substr(io.rest);
    Walk(rest, &x);
    if (!x.complex && !Matches(f_, top)) return false;
    if (kind == KLOG_KIND_HOP) top.w[KLOG_HOPID] = HopId(rest);
  }
  uint32_t* w = top.w;
  w[KLOG_KIND] = kind | hop.kind << 4;
  PutEnvelope(env, w, &top.p, &top.q);
  if (x.complex) top.p |= KLOG_HAS_COMPLEX;
  else if (x.has_inner) top.q |= KLOG_HAS2_INNER;
  // Numbers for the strings lines repeat; a new one is sent with this record.
  uint32_t fresh = names_.ResetIfFull() ? static_cast<uint32_t>(KLOG_FRESH_RESET) : 0u;
  // A repeated string's number into *word; the string itself too when it is new.
  auto name = [&](sv s, uint32_t* word, uint32_t bit, int slot) {
    bool is_new = false;
    *word = names_.Id(s, &is_new, &recent_[slot]);
    if (is_new) {
      fresh |= bit;
      PutString(batch, s);
    }
  };
  PutString(batch, text);
  if (kind != KLOG_KIND_LINE) {
    name(prefix, &w[KLOG_PREFIXID], KLOG_FRESH_PREFIX, kPrefix);
    if (kind == KLOG_KIND_HOP) {
      name(hop.table, &w[KLOG_TABLEID], KLOG_FRESH_TABLE, kTable);
      name(hop.chain, &w[KLOG_CHAINID], KLOG_FRESH_CHAIN, kChain);
      w[KLOG_RULE] = hop.rule;
    }
    if (top.p & KLOG_HAS_IN) name(x.in, &w[KLOG_INID], KLOG_FRESH_IN, kIn);
    if (top.p & KLOG_HAS_OUT) name(x.out, &w[KLOG_OUTID], KLOG_FRESH_OUT, kOut);
    if (top.p & KLOG_HAS_PHYSIN) name(x.physin, &w[KLOG_PHYSINID], KLOG_FRESH_PHYSIN, kPhysIn);
    if (top.p & KLOG_HAS_PHYSOUT) name(x.physout, &w[KLOG_PHYSOUTID], KLOG_FRESH_PHYSOUT, kPhysOut);
    if (top.p & KLOG_HAS_MACSRC) PutString(batch, x.macsrc);
    if (top.p & KLOG_HAS_MACDST) PutString(batch, x.macdst);
    auto level = [&](Level& l, int slot) {
      if (l.p & KLOG_HAS_SRC) PutString(batch, l.src);
      if (l.p & KLOG_HAS_DST) PutString(batch, l.dst);
      if (l.p & KLOG_HAS_IPOPT) PutString(batch, l.ipopt);
      if (l.p & KLOG_HAS_PROTO) {
        bool is_new = false;
        l.w[KLOG_PROTOID] = names_.Id(l.proto, &is_new, &recent_[slot]);
        if (is_new) {
          l.w[KLOG_FRESH] |= KLOG_FRESH_PROTO;
          PutString(batch, l.proto);
        }
      }
      if (l.q & KLOG_HAS2_TCPOPT) PutString(batch, l.tcpopt);
    };
    level(top, kProto);
    if (top.q & KLOG_HAS2_INNER) level(x.inner, kInnerProto);
    if (top.p & KLOG_HAS_MAC) {
      w[KLOG_MAC] = static_cast<uint32_t>(batch->bytes.size());
      for (size_t i = 0; i + 1 < x.mac.size(); i += 3) {
        batch->bytes.push_back(static_cast<uint8_t>(HexVal(x.mac[i]) << 4 | HexVal(x.mac[i + 1])));
      }
      w[KLOG_MAC + 1] = static_cast<uint32_t>(batch->bytes.size()) - w[KLOG_MAC];
    }
  }
  if (top.q & KLOG_HAS2_HOST) name(env.host, &w[KLOG_HOSTID], KLOG_FRESH_HOST, kHost);
  w[KLOG_FRESH] |= fresh;
  w[KLOG_PRESENT] = top.p;
  w[KLOG_PRESENT2] = top.q;
  batch->words.insert(batch->words.end(), w, w + KLOG_WORDS);
  if (top.q & KLOG_HAS2_INNER) {
    Level& in = x.inner;
    in.w[KLOG_PRESENT] = in.p;
    in.w[KLOG_PRESENT2] = in.q;
    batch->words.insert(batch->words.end(), in.w, in.w + KLOG_WORDS);
  }
  batch->count++;
  return true;
}

void LineDecoder::Loss(uint64_t lost, uint64_t before, Batch* batch) {
  uint32_t w[KLOG_WORDS] = {};
  w[KLOG_KIND] = KLOG_KIND_LOSS;
  w[KLOG_PRESENT] = KLOG_HAS_SEQ;
  w[KLOG_SEQ] = static_cast<uint32_t>(before);
  w[KLOG_SEQ + 1] = static_cast<uint32_t>(before >> 32);
  w[KLOG_LOST] = static_cast<uint32_t>(lost);
  w[KLOG_LOST + 1] = static_cast<uint32_t>(lost >> 32);
  PutString(batch, sv());
  batch->words.insert(batch->words.end(), w, w + KLOG_WORDS);
  batch->count++;
}
}  // namespace klog
}  // namespace nfct
