// `journalctl -o json` lines: the fields of a journal entry a kernel log line needs (MESSAGE,
// as text or as an array of bytes, the times, the priority, the host, the transport).
#include <string>

#include "kmsg/chars.h"
#include "kmsg/line.h"

namespace nfct {
namespace klog {

namespace {

// A JSON string's value (after its opening quote) into out; *i past the closing quote.
bool JsonString(sv t, size_t* i, std::string* out) {
  size_t k = *i;
  while (k < t.size()) {
    const unsigned char c = t[k++];
    if (c == '"') {
      *i = k;
      return true;
    }
    if (c != '\\') {
      out->push_back(static_cast<char>(c));
      continue;
    }
    if (k >= t.size()) return false;
    const char e = t[k++];
    switch (e) {
      case '"':
      case '\\':
      case '/': out->push_back(e); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        uint32_t cp = 0;
        if (k + 4 > t.size() || !HexDigits(t.substr(k, 4), &cp)) return false;
        k += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && t.compare(k, 2, "\\u") == 0) {
          uint32_t lo = 0;
          if (k + 6 <= t.size() && HexDigits(t.substr(k + 2, 4), &lo) && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            k += 6;
          }
        }
        // As UTF-8, the journal's own encoding.
        if (cp < 0x80) {
          out->push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
          out->push_back(static_cast<char>(0xc0 | cp >> 6));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
          out->push_back(static_cast<char>(0xe0 | cp >> 12));
          out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
          out->push_back(static_cast<char>(0xf0 | cp >> 18));
          out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
          out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
        break;
      }
      default: return false;
    }
  }
  return false;
}

void SkipSpace(sv t, size_t* i) {
  while (*i < t.size() && (t[*i] == ' ' || t[*i] == '\t' || t[*i] == '\r' || t[*i] == '\n')) (*i)++;
}

// Skips one JSON value that is not a string (numbers, literals, arrays, objects); a string
// inside an array or object is skipped with its escapes.
bool SkipValue(sv t, size_t* i) {
  int depth = 0;
  while (*i < t.size()) {
    const char c = t[*i];
    if (c == '"') {
      std::string ignored;
      (*i)++;
      if (!JsonString(t, i, &ignored)) return false;
      if (depth == 0) return true;
      continue;
    }
    if (c == '[' || c == '{') depth++;
    else if (c == ']' || c == '}') {
      if (depth == 0) return true;
      depth--;
      (*i)++;
      if (depth == 0) return true;
      continue;
    } else if (depth == 0 && c == ',') {
      return true;
    }
    (*i)++;
  }
  return depth == 0;
}

// A journal MESSAGE that is not UTF-8: an array of byte values.
bool ByteArray(sv t, size_t* i, std::string* out) {
  size_t k = *i + 1;
  for (;;) {
    SkipSpace(t, &k);
    if (k < t.size() && t[k] == ']') break;
    uint32_t b = 0;
    if (!Digits(t, &k, 1, 3, &b) || b > 255) return false;
    out->push_back(static_cast<char>(b));
    SkipSpace(t, &k);
    if (k < t.size() && t[k] == ',') k++;
  }
  *i = k + 1;
  return true;
}

bool U64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (unsigned char c : s) {
    if (!Digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

bool LineDecoder::JsonLine(const char* line, size_t len, Batch* batch, bool* malformed) {
  const sv t(line, len);
  size_t i = 0;
  SkipSpace(t, &i);
  *malformed = true;
  if (!Lit(t, &i, '{')) return false;
  std::string message, key, value, realtime, monotonic, priority, facility, host, transport, ident;
  bool has_message = false;
  for (;;) {
    SkipSpace(t, &i);
    if (Lit(t, &i, '}')) break;
    key.clear();
    if (!Lit(t, &i, '"') || !JsonString(t, &i, &key)) return false;
    SkipSpace(t, &i);
    if (!Lit(t, &i, ':')) return false;
    SkipSpace(t, &i);
    std::string* into = key == "MESSAGE"                       ? &message
                        : key == "__REALTIME_TIMESTAMP"        ? &realtime
                        : key == "_SOURCE_MONOTONIC_TIMESTAMP" ? &monotonic
                        : key == "PRIORITY"                    ? &priority
                        : key == "SYSLOG_FACILITY"             ? &facility
                        : key == "_HOSTNAME"                   ? &host
                        : key == "_TRANSPORT"                  ? &transport
                        : key == "SYSLOG_IDENTIFIER"           ? &ident
                                                               : nullptr;
    if (into != nullptr) into->clear();
    if (i < t.size() && t[i] == '"') {
      i++;
      value.clear();
      if (!JsonString(t, &i, into != nullptr ? into : &value)) return false;
      if (into == &message) has_message = true;
    } else if (into == &message && i < t.size() && t[i] == '[') {
      if (!ByteArray(t, &i, &message)) return false;
      has_message = true;
    } else if (!SkipValue(t, &i)) {
      return false;
    }
    SkipSpace(t, &i);
    if (Lit(t, &i, ',')) continue;
    if (Lit(t, &i, '}')) break;
    return false;
  }
  *malformed = false;
  if (!has_message) return false;
  Envelope env;
  uint64_t v = 0;
  if (U64(realtime, &v)) env.has_time = true, env.time_ns = v * 1000;
  if (U64(monotonic, &v)) env.has_ktime = true, env.ktime_us = v;
  if (U64(priority, &v) && v < 8) env.level = static_cast<int>(v);
  env.host = host;
  env.kernel = !transport.empty() ? transport == "kernel" : ident.empty() || ident == "kernel";
  scratch_.swap(message);
  const bool added = Message(env, scratch_.data(), scratch_.size(), batch);
  scratch_.swap(message);
  return added;
}

}  // namespace klog
}  // namespace nfct
