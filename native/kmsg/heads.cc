// The heads a kernel log line comes with: a syslog or journalctl -o short* head, dmesg's
// (`<4>`, `[ 1234.567890]`, `[Thu Jun 13 19:58:21 2024]`), a /dev/kmsg record's; read as
// lib/nflog/logline-parse.ts reads them, with the wall-clock time they give.
#include <cstring>
#include <ctime>

#include "kmsg/chars.h"
#include "kmsg/line.h"

namespace nfct {
namespace klog {

namespace {

const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int Month(sv s) {
  for (int m = 0; m < 12; m++)
    if (s == kMonths[m]) return m;
  return -1;
}

// `.123456` after the seconds: the fraction in nanoseconds (digits past the ninth ignored).
uint64_t FractionNs(sv digits) {
  uint64_t ns = 0;
  for (size_t k = 0; k < 9; k++) ns = ns * 10 + (k < digits.size() ? digits[k] - '0' : 0);
  return ns;
}

bool ValidTime(uint32_t day, uint32_t h, uint32_t m, uint32_t s) {
  return day >= 1 && day <= 31 && h < 24 && m < 60 && s <= 60;
}

// `host tag[pid]: ` after a syslog time: /^ (\S+) ([^\s:[\]]+)(?:\[(\d+)\])?: /
bool SyslogRest(sv t, size_t* i, sv* host, sv* tag) {
  size_t k = *i;
  if (!Lit(t, &k, ' ')) return false;
  const size_t h = k;
  while (k < t.size() && !JsSpace(t[k])) k++;
  if (k == h || !Lit(t, &k, ' ')) return false;
  *host = t.substr(h, k - 1 - h);
  const size_t g = k;
  while (k < t.size() && !JsSpace(t[k]) && t[k] != ':' && t[k] != '[' && t[k] != ']') k++;
  if (k == g) return false;
  *tag = t.substr(g, k - g);
  if (k < t.size() && t[k] == '[') {
    size_t d = k + 1;
    while (d < t.size() && Digit(t[d])) d++;
    if (d == k + 1 || d >= t.size() || t[d] != ']') return false;
    k = d + 1;
  }
  if (t.compare(k, 2, ": ") != 0) return false;
  *i = k + 2;
  return true;
}

}  // namespace

Clock::Clock() {
  tzset();
  now_ = time(nullptr);
  struct tm tm {};
  const time_t now = static_cast<time_t>(now_);
  localtime_r(&now, &tm);
  this_year_ = tm.tm_year + 1900;
}

int64_t Clock::Local(int year, int mon, int day, int hour, int min, int sec) {
  const int key = (((year + 1) * 12 + mon) * 32 + day) * 24 + hour;
  if (key != key_) {
    auto make = [&](int y) {
      struct tm tm {};
      tm.tm_year = y - 1900;
      tm.tm_mon = mon;
      tm.tm_mday = day;
      tm.tm_hour = hour;
      tm.tm_isdst = -1;
      return static_cast<int64_t>(mktime(&tm));
    };
    if (year >= 0) {
      base_ = make(year);
    } else {
      now_ = time(nullptr);
      base_ = make(this_year_);
      if (base_ > now_ + 86400) base_ = make(this_year_ - 1);
    }
    key_ = key;
  }
  return base_ + min * 60 + sec;
}

bool LineDecoder::TextLine(const char* line, size_t len, Batch* batch) {
  const sv t(line, len);
  Envelope env;
  size_t i = 0;
  auto level = [&]() {
    size_t k = i;
    uint32_t n = 0;
    if (Lit(t, &k, '<') && Digits(t, &k, 1, 3, &n) && Lit(t, &k, '>')) {
      env.level = static_cast<int>(n & 7);
      i = k;
    }
  };
  level();
  bool syslog = false;
  sv tag;
  // The lines of a syslog file mostly repeat the head of the line before (the same second,
  // host and tag): the same bytes say the same, read once.
  const bool same_head =
      i == 0 && !head_.empty() && len > head_.size() && memcmp(line, head_.data(), head_.size()) == 0;
  if (same_head) {
    syslog = true;
    env.kernel = head_env_.kernel;
    env.has_time = head_env_.has_time;
    env.time_ns = head_env_.time_ns;
    env.host = t.substr(head_host_at_, head_env_.host.size());
    i = head_.size();
  } else {
    // /^[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?/ or the RFC 3339 form.
    size_t k = i;
    uint32_t day = 0, h = 0, m = 0, s = 0, year = 0, mon = 0;
    sv frac;
    bool bsd = false, iso = false;
    int64_t offset = 0;
    bool zone = false;
    if (k + 3 <= t.size() && t[k] >= 'A' && t[k] <= 'Z' && t[k + 1] >= 'a' && t[k + 1] <= 'z' && t[k + 2] >= 'a' &&
        t[k + 2] <= 'z') {
      const sv name = t.substr(k, 3);
      k += 3;
      if (Lit(t, &k, ' ')) {
        Lit(t, &k, ' ');
        if (Digits(t, &k, 1, 2, &day) && Lit(t, &k, ' ') && Digits(t, &k, 2, 2, &h) && Lit(t, &k, ':') &&
            Digits(t, &k, 2, 2, &m) && Lit(t, &k, ':') && Digits(t, &k, 2, 2, &s)) {
          if (k + 1 < t.size() && t[k] == '.' && Digit(t[k + 1])) {
            const size_t f0 = ++k;
            while (k < t.size() && Digit(t[k])) k++;
            frac = t.substr(f0, k - f0);
          }
          bsd = true;
          mon = static_cast<uint32_t>(Month(name));
        }
      }
    } else if (Digits(t, &k, 4, 4, &year) && Lit(t, &k, '-') && Digits(t, &k, 2, 2, &mon) && Lit(t, &k, '-') &&
               Digits(t, &k, 2, 2, &day) && k < t.size() && (t[k] == 'T' || t[k] == ' ') && (++k, true) &&
               Digits(t, &k, 2, 2, &h) && Lit(t, &k, ':') && Digits(t, &k, 2, 2, &m) && Lit(t, &k, ':') &&
               Digits(t, &k, 2, 2, &s)) {
      if (k + 1 < t.size() && (t[k] == '.' || t[k] == ',') && Digit(t[k + 1])) {
        const size_t f0 = ++k;
        while (k < t.size() && Digit(t[k])) k++;
        frac = t.substr(f0, k - f0);
      }
      if (k < t.size() && t[k] == 'Z') {
        k++;
        zone = true;
      } else if (k < t.size() && (t[k] == '+' || t[k] == '-')) {
        size_t z = k + 1;
        uint32_t zh = 0, zm = 0;
        if (Digits(t, &z, 2, 2, &zh) && (Lit(t, &z, ':'), true) && Digits(t, &z, 2, 2, &zm)) {
          offset = (t[k] == '-' ? -1 : 1) * static_cast<int64_t>(zh * 3600 + zm * 60);
          zone = true;
          k = z;
        }
      }
      iso = true;
      mon -= 1;
    }
    sv host;
    if ((bsd || iso) && SyslogRest(t, &k, &host, &tag)) {
      syslog = true;
      env.host = host;
      env.kernel = tag == "kernel";
      i = k;
      if (ValidTime(day, h, m, s) && mon < 12) {
        int64_t secs;
        if (iso && zone) {
          struct tm tm {};
          tm.tm_year = static_cast<int>(year) - 1900;
          tm.tm_mon = static_cast<int>(mon);
          tm.tm_mday = static_cast<int>(day);
          tm.tm_hour = static_cast<int>(h);
          tm.tm_min = static_cast<int>(m);
          tm.tm_sec = static_cast<int>(s);
          secs = static_cast<int64_t>(timegm(&tm)) - offset;
        } else {
          secs = clock_.Local(iso ? static_cast<int>(year) : -1, static_cast<int>(mon), static_cast<int>(day),
                              static_cast<int>(h), static_cast<int>(m), static_cast<int>(s));
        }
        if (secs >= 0) {
          env.has_time = true;
          env.time_ns = static_cast<uint64_t>(secs) * 1000000000ull + FractionNs(frac);
        }
      }
      if (env.level < 0) {
        // (A head after a `<n>` is not kept: the next line's level may differ.)
        head_.assign(line, i);
        head_env_ = env;
        head_host_at_ = static_cast<size_t>(env.host.data() - line);
      }
    }
  }
  if (env.level < 0) level();
  // /^\[\s*(\d+\.\d+)\] ?/
  auto ktime = [&](bool keep) {
    size_t k = i;
    if (!Lit(t, &k, '[')) return false;
    while (k < t.size() && JsSpace(t[k])) k++;
    const size_t d0 = k;
    while (k < t.size() && Digit(t[k])) k++;
    if (k == d0 || !Lit(t, &k, '.')) return false;
    const size_t f0 = k;
    while (k < t.size() && Digit(t[k])) k++;
    if (k == f0 || !Lit(t, &k, ']')) return false;
    if (keep) {
      uint64_t secs = 0;
      for (size_t j = d0; j < f0 - 1 && j < d0 + 12; j++) secs = secs * 10 + (t[j] - '0');
      uint64_t us = 0;
      for (size_t j = 0; j < 6; j++) us = us * 10 + (f0 + j < k - 1 ? t[f0 + j] - '0' : 0);
      if (f0 - 1 - d0 <= 12) {
        env.has_ktime = true;
        env.ktime_us = secs * 1000000 + us;
      }
    }
    Lit(t, &k, ' ');
    i = k;
    return true;
  };
  if (ktime(true)) {
    if (!syslog) {
      // journalctl -o short-monotonic: "[ 1234.567890] host kernel: ..."
      size_t k = i;
      const size_t h0 = k;
      while (k < t.size() && !JsSpace(t[k])) k++;
      const sv host = t.substr(h0, k - h0);
      if (k > h0 && t.compare(k, 7, " kernel") == 0) {
        k += 7;
        bool ok = true;
        if (k < t.size() && t[k] == '[') {
          size_t d = k + 1;
          while (d < t.size() && Digit(t[d])) d++;
          ok = d > k + 1 && d < t.size() && t[d] == ']';
          k = d + 1;
        }
        if (ok && t.compare(k, 2, ": ") == 0) {
          env.host = host;
          i = k + 2;
          ktime(false);
        }
      }
    }
  } else {
    // dmesg -T: "[Thu Jun 13 19:58:21 2024] "
    size_t k = i;
    uint32_t day = 0, h = 0, m = 0, s = 0, year = 0;
    auto word = [&](sv* out) {
      if (k + 3 > t.size() || !(t[k] >= 'A' && t[k] <= 'Z') || !(t[k + 1] >= 'a' && t[k + 1] <= 'z') ||
          !(t[k + 2] >= 'a' && t[k + 2] <= 'z')) {
        return false;
      }
      *out = t.substr(k, 3);
      k += 3;
      return true;
    };
    sv wd, mn;
    if (Lit(t, &k, '[') && word(&wd) && Lit(t, &k, ' ') && word(&mn) && Lit(t, &k, ' ') && (Lit(t, &k, ' '), true) &&
        Digits(t, &k, 1, 2, &day) && Lit(t, &k, ' ') && Digits(t, &k, 2, 2, &h) && Lit(t, &k, ':') &&
        Digits(t, &k, 2, 2, &m) && Lit(t, &k, ':') && Digits(t, &k, 2, 2, &s) && Lit(t, &k, ' ') &&
        Digits(t, &k, 4, 4, &year) && Lit(t, &k, ']')) {
      Lit(t, &k, ' ');
      i = k;
      const int mon = Month(mn);
      if (mon >= 0 && ValidTime(day, h, m, s)) {
        const int64_t secs = clock_.Local(static_cast<int>(year), mon, static_cast<int>(day), static_cast<int>(h),
                                          static_cast<int>(m), static_cast<int>(s));
        if (secs >= 0) {
          env.has_time = true;
          env.time_ns = static_cast<uint64_t>(secs) * 1000000000ull;
        }
      }
    }
  }
  return Message(env, line + i, len - i, batch);
}

bool LineDecoder::KmsgRecord(const char* rec, size_t len, int64_t offset_ns, Batch* batch, uint64_t* seq,
                             bool* malformed) {
  const sv t(rec, len);
  size_t i = 0;
  uint32_t prio = 0;
  *malformed = true;
  if (!Digits(t, &i, 1, 10, &prio) || !Lit(t, &i, ',')) return false;
  uint64_t s = 0, usec = 0;
  size_t d = i;
  while (i < t.size() && Digit(t[i])) s = s * 10 + (t[i++] - '0');
  if (i == d || !Lit(t, &i, ',')) return false;
  d = i;
  while (i < t.size() && Digit(t[i])) usec = usec * 10 + (t[i++] - '0');
  if (i == d) return false;
  const size_t semi = t.find(';', i);
  if (semi == sv::npos) return false;
  *malformed = false;
  *seq = s;
  size_t end = t.find('\n', semi + 1);
  if (end == sv::npos) end = t.size();
  sv text = t.substr(semi + 1, end - semi - 1);
  // Bytes the kernel escaped (\xNN: control characters, bytes past 0x7e, the backslash).
  if (text.find('\\') != sv::npos) {
    scratch_.clear();
    for (size_t k = 0; k < text.size(); k++) {
      // (\x00 stays as it is: strings cross into JS NUL-separated.)
      if (text[k] == '\\' && k + 3 < text.size() && text[k + 1] == 'x' && HexVal(text[k + 2]) >= 0 &&
          HexVal(text[k + 3]) >= 0 && (HexVal(text[k + 2]) | HexVal(text[k + 3])) != 0) {
        scratch_.push_back(static_cast<char>(HexVal(text[k + 2]) << 4 | HexVal(text[k + 3])));
        k += 3;
      } else {
        scratch_.push_back(text[k]);
      }
    }
    text = scratch_;
  }
  Envelope env;
  env.has_seq = true;
  env.seq = s;
  env.level = static_cast<int>(prio & 7);
  env.facility = static_cast<int>(prio >> 3);
  env.kernel = env.facility == 0;
  env.has_ktime = true;
  env.ktime_us = usec;
  const int64_t wall = offset_ns + static_cast<int64_t>(usec) * 1000;
  if (wall > 0) {
    env.has_time = true;
    env.time_ns = static_cast<uint64_t>(wall);
  }
  return Message(env, text.data(), text.size(), batch);
}

}  // namespace klog
}  // namespace nfct
