// Character and number reading shared by the kernel log decoder's files (kmsg/), with
// JavaScript's meaning wherever lib/nflog/logline-parse.ts's regular expressions are followed.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "reader.h"

namespace nfct {
namespace klog {

using sv = std::string_view;

// JavaScript's \s over latin1 text (the strings lib/ compares with are latin1).
inline bool JsSpace(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || c == 0xA0; }
inline bool Digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline int HexVal(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// /^\d{1,10}$/, and the value fits 32 bits.
inline bool Dec(sv v, uint32_t* out) {
  if (v.empty() || v.size() > 10) return false;
  uint64_t n = 0;
  for (unsigned char c : v) {
    if (!Digit(c)) return false;
    n = n * 10 + (c - '0');
  }
  if (n > 0xffffffffu) return false;
  *out = static_cast<uint32_t>(n);
  return true;
}

inline bool HexDigits(sv v, uint32_t* out) {
  if (v.empty() || v.size() > 8) return false;
  uint32_t n = 0;
  for (unsigned char c : v) {
    const int h = HexVal(c);
    if (h < 0) return false;
    n = n << 4 | static_cast<uint32_t>(h);
  }
  *out = n;
  return true;
}

// /^0x[0-9a-fA-F]{1,8}$/
inline bool Hex0x(sv v, uint32_t* out) {
  return v.size() > 2 && v[0] == '0' && v[1] == 'x' && HexDigits(v.substr(2), out);
}

// A word of up to 8 bytes as a number (its bytes in order from the lowest), 0 for a longer one:
// words are told apart by a switch on it rather than compared one by one.
constexpr uint64_t Code(sv s) {
  if (s.size() > 8) return 0;
  uint64_t c = 0;
  for (size_t i = 0; i < s.size(); i++) c |= static_cast<uint64_t>(static_cast<unsigned char>(s[i])) << (8 * i);
  return c;
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "Code() and Load8() agree on little-endian machines");

// Eight bytes at p as one number, the first the lowest (as Code() numbers a word).
inline uint64_t Load8(const char* p) {
  uint64_t v;
  memcpy(&v, p, sizeof(v));
  return v;
}

// The bytes of v equal to c, each as its top bit: the lowest bit set is the first such byte.
inline uint64_t BytesEqual(uint64_t v, unsigned char c) {
  const uint64_t x = v ^ (0x0101010101010101ull * c);
  return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

// Where the first space at or after i in t[0, n) is (n: none), eight bytes at a time.
inline size_t SpaceFrom(const char* t, size_t i, size_t n) {
  for (; i + 8 <= n; i += 8) {
    const uint64_t z = BytesEqual(Load8(t + i), ' ');
    if (z != 0) return i + (__builtin_ctzll(z) >> 3);
  }
  while (i < n && t[i] != ' ') i++;
  return i;
}

// Where a word's first '=' is (sv::npos: none), and *key, Code() of what comes before it.
// `readable`: bytes that may be read from the word's start (at least its length).
inline size_t KeyOf(sv word, size_t readable, uint64_t* key) {
  if (readable >= 8) {
    const uint64_t v = Load8(word.data());
    const uint64_t z = BytesEqual(v, '=');
    if (z != 0) {
      const size_t at = __builtin_ctzll(z) >> 3;
      if (at < word.size()) {
        *key = at == 0 ? 0 : v & ((1ull << (8 * at)) - 1);
        return at;
      }
      return sv::npos;  // the word ends before it
    }
    const size_t at = word.size() > 8 ? word.find('=', 8) : sv::npos;
    *key = at == 8 ? v : 0;
    return at;
  }
  const size_t at = word.find('=');
  *key = at == sv::npos ? 0 : Code(word.substr(0, at));
  return at;
}

inline bool StartsWith(sv s, sv p) { return s.size() >= p.size() && s.compare(0, p.size(), p) == 0; }

// Parses `digits` (at most `max`) at s[*i]; false when there are none.
inline bool Digits(sv s, size_t* i, size_t min, size_t max, uint32_t* out) {
  size_t n = 0;
  uint64_t v = 0;
  while (*i + n < s.size() && n < max && Digit(s[*i + n])) v = v * 10 + (s[*i + n++] - '0');
  if (n < min) return false;
  *i += n;
  *out = static_cast<uint32_t>(v);
  return true;
}

inline bool Lit(sv s, size_t* i, char c) {
  if (*i >= s.size() || s[*i] != c) return false;
  (*i)++;
  return true;
}

inline void PutString(Batch* b, sv s) {
  b->strings.append(s.data(), s.size());
  b->strings.push_back('\0');
}

}  // namespace klog
}  // namespace nfct
