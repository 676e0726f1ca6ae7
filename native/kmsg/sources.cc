// The kernel log's inputs (source.h): /dev/kmsg, read a record at a time with its sequence
// numbers (EPIPE: the ring buffer overwrote records, counted exactly), and a file or pipe of
// text lines (syslog, dmesg, journalctl -o short* or -o json), followed by name as `tail -F`
// does (rotation by rename, truncation). The JS side: kernelLog(config, onBatch, tuning) and,
// for the tests, decodeLogLines(text, kind, filter).
#include "kmsg/kmsg.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "kmsg/line.h"
#include "source.h"
#include "stream.h"

namespace nfct {
namespace klog {

namespace {

constexpr uint64_t kUnknownLoss = ~0ull;

int64_t WallOffsetNs() {
  timespec real{}, mono{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  return (static_cast<int64_t>(real.tv_sec) - mono.tv_sec) * 1000000000ll + (real.tv_nsec - mono.tv_nsec);
}

class KmsgSource : public Source {
 public:
  KmsgSource(Filter f, bool from_start, bool follow) : dec_(std::move(f)), from_start_(from_start), follow_(follow) {}
  ~KmsgSource() override { Close(); }

  bool Open(Failure* f) override {
    // The ring buffer holds milliseconds of a burst (128 KiB: ~600 LOG lines): this thread
    // must run as soon as records come. It mostly sleeps in poll(); a higher priority (when the
    // process may take it: CAP_SYS_NICE) costs others nothing but when records come.
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), -10) != 0) {
      // not allowed: the thread runs as the process does
    }
    fd_ = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) {
      f->set(errno, "open", "/dev/kmsg");
      return false;
    }
    if (!from_start_ && lseek(fd_, 0, SEEK_END) < 0) {
      f->set(errno, "lseek", "/dev/kmsg");
      return false;
    }
    return true;
  }

  Step Read(Batch* batch, uint32_t max, Failure* f) override {
    const int64_t offset = WallOffsetNs();
    while (batch->count < max) {
      const ssize_t n = read(fd_, buf_, sizeof(buf_));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return follow_ ? Step::kDry : Step::kEnd;
        if (errno == EPIPE) {
          // The records after the last one read were overwritten: the next read returns the
          // oldest one left, whose sequence number says how many went.
          lost_ = true;
          batch->overruns++;
          continue;
        }
        f->set(errno, "read", "/dev/kmsg");
        return Step::kFail;
      }
      if (n == 0) return follow_ ? Step::kDry : Step::kEnd;
      batch->received++;
      uint64_t seq = 0;
      bool malformed = false;
      // The sequence number comes first: read it before deciding on a loss.
      const char* rec = buf_;
      size_t i = 0;
      while (i < static_cast<size_t>(n) && rec[i] != ',') i++;
      size_t j = i + 1;
      bool ok = i < static_cast<size_t>(n) && j < static_cast<size_t>(n);
      for (; ok && j < static_cast<size_t>(n) && rec[j] >= '0' && rec[j] <= '9'; j++) seq = seq * 10 + (rec[j] - '0');
      if (ok && have_last_ && (lost_ || seq != last_ + 1) && seq > last_) dec_.Loss(seq - last_ - 1, seq, batch);
      else if (ok && lost_ && !have_last_) dec_.Loss(kUnknownLoss, seq, batch);
      if (ok) {
        lost_ = false;
        have_last_ = true;
        last_ = seq;
      }
      dec_.KmsgRecord(rec, static_cast<size_t>(n), offset, batch, &seq, &malformed);
      if (malformed || !ok) batch->malformed++;
    }
    return Step::kMore;
  }

  int PollFd() const override { return fd_; }

  void Close() override {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  LineDecoder dec_;
  bool from_start_, follow_;
  int fd_ = -1;
  bool lost_ = false;
  bool have_last_ = false;
  uint64_t last_ = 0;
  // A record is at most 8 KiB of text and dictionary (CONSOLE_EXT_LOG_MAX): a read into less
  // fails with EINVAL and does not move on.
  char buf_[16384];
};

class FileSource : public Source {
 public:
  FileSource(Filter f, std::string path, int fd, bool follow, bool from_end, uint32_t max_line)
      : dec_(std::move(f)),
        path_(std::move(path)),
        fd_(fd),
        follow_(follow),
        from_end_(from_end),
        max_line_(max_line) {}
  ~FileSource() override { Close(); }

  bool Open(Failure* f) override {
    buf_.resize(kChunk + max_line_ + 1);
    if (fd_ < 0 && !OpenPath(f)) return false;
    struct stat st {};
    if (fstat(fd_, &st) != 0) {
      f->set(errno, "fstat", path_);
      return false;
    }
    regular_ = S_ISREG(st.st_mode);
    if (S_ISDIR(st.st_mode)) {
      f->set(EISDIR, "read", path_);
      return false;
    }
    if (from_end_ && regular_ && lseek(fd_, 0, SEEK_END) < 0) {
      f->set(errno, "lseek", path_);
      return false;
    }
    if (follow_ && regular_ && !path_.empty()) {
      // Changes in the file's directory (writes, a new file under its name) wake the reader.
      notify_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
      const size_t slash = path_.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
      if (notify_ >= 0 && inotify_add_watch(notify_, dir.c_str(),
                                            IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                                IN_ATTRIB | IN_CLOSE_WRITE) < 0) {
        close(notify_);
        notify_ = -1;
      }
    }
    return true;
  }

  Step Read(Batch* batch, uint32_t max, Failure* f) override {
    for (;;) {
      while (batch->count < max && pos_ < end_) {
        char* start = &buf_[pos_];
        char* nl = static_cast<char*>(memchr(start, '\n', end_ - pos_));
        if (nl == nullptr) break;
        const size_t len = static_cast<size_t>(nl - start);
        pos_ += len + 1;
        if (skipping_) {
          skipping_ = false;  // the end of a line too long to read
          continue;
        }
        if (len > max_line_) {
          batch->received++;
          batch->malformed++;
          oversized_++;
          continue;
        }
        Line(start, len, batch);
      }
      Tally(batch);
      if (batch->count >= max) return Step::kMore;
      if (pos_ > 0) {
        memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
        end_ -= pos_;
        pos_ = 0;
      }
      if (end_ > max_line_) {
        // A line longer than the bound: counted, skipped to its end.
        batch->received++;
        batch->malformed++;
        oversized_++;
        skipping_ = true;
        end_ = 0;
      }
      if (!regular_) {
        pollfd p = {fd_, POLLIN, 0};
        if (poll(&p, 1, 0) == 0) return Step::kDry;
      }
      const ssize_t n = read(fd_, &buf_[end_], buf_.size() - 1 - end_);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return Step::kDry;
        f->set(errno, "read", path_.empty() ? "standard input" : path_);
        return Step::kFail;
      }
      if (n > 0) {
        offset_ += static_cast<uint64_t>(n);
        end_ += static_cast<size_t>(n);
        continue;
      }
      // End of file.
      if (!follow_ || !regular_) {
        FlushPartial(batch);
        return Step::kEnd;
      }
      if (!path_.empty()) {
        struct stat now {
        }, ours{};
        if (stat(path_.c_str(), &now) == 0 && fstat(fd_, &ours) == 0 &&
            (now.st_ino != ours.st_ino || now.st_dev != ours.st_dev)) {
          // Renamed away and a new file in its place: the old one is read to its end (done),
          // then the new one from its start.
          FlushPartial(batch);
          close(fd_);
          fd_ = -1;
          if (!OpenPath(f)) return Step::kFail;
          rotations_++;
          continue;
        }
        if (fstat(fd_, &ours) == 0 && static_cast<uint64_t>(ours.st_size) < offset_) {
          // Truncated (copytruncate): from the start again.
          lseek(fd_, 0, SEEK_SET);
          offset_ = 0;
          pos_ = end_ = 0;
          skipping_ = false;
          truncations_++;
          continue;
        }
      }
      return Step::kDry;
    }
  }

  int PollFd() const override { return regular_ ? notify_ : fd_; }
  int DryWaitMs() const override { return regular_ ? (notify_ >= 0 ? 1000 : 250) : -1; }

  void Woken() override {
    if (notify_ < 0) return;
    char events[4096];
    while (read(notify_, events, sizeof(events)) > 0) {
    }
  }

  void Finish(Batch* final_batch, Failure* /*failure*/) override { Tally(final_batch); }

  void Close() override {
    if (fd_ >= 0) close(fd_);
    if (notify_ >= 0) close(notify_);
    fd_ = notify_ = -1;
  }

 private:
  static constexpr size_t kChunk = 1 << 20;

  bool OpenPath(Failure* f) {
    // O_NONBLOCK: a FIFO opens at once (and is then read as a pipe).
    fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) {
      f->set(errno, "open", path_);
      return false;
    }
    offset_ = 0;
    return true;
  }

  void Line(char* start, size_t len, Batch* batch) {
    if (len > 0 && start[len - 1] == '\r') len--;
    batch->received++;
    size_t i = 0;
    while (i < len && (start[i] == ' ' || start[i] == '\t')) i++;
    if (i < len && start[i] == '{') {
      bool malformed = false;
      dec_.JsonLine(start, len, batch, &malformed);
      if (malformed) batch->malformed++;
    } else {
      dec_.TextLine(start, len, batch);
    }
  }

  // What every batch carries (so far): lines skipped for their length, rotations, truncations.
  void Tally(Batch* batch) const {
    batch->tally[0] = static_cast<uint32_t>(oversized_);
    batch->tally[1] = static_cast<uint32_t>(rotations_);
    batch->tally[2] = static_cast<uint32_t>(truncations_);
  }

  // The last line of an input that does not end with a newline.
  void FlushPartial(Batch* batch) {
    if (pos_ < end_ && !skipping_) Line(&buf_[pos_], end_ - pos_, batch);
    pos_ = end_ = 0;
    skipping_ = false;
  }

  LineDecoder dec_;
  std::string path_;
  int fd_;
  bool follow_, from_end_;
  size_t max_line_;
  int notify_ = -1;
  bool regular_ = false;
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;
  uint64_t offset_ = 0;
  bool skipping_ = false;
  uint64_t oversized_ = 0, rotations_ = 0, truncations_ = 0;
};

void ReadNet(const Napi::Value& v, Filter::Net* net) {
  if (!v.IsObject()) return;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value addr = o.Get("addr");
  if (!addr.IsBuffer()) return;
  auto b = addr.As<Napi::Buffer<uint8_t>>();
  net->set = true;
  net->family = b.Length() == 16 ? 6 : 4;
  memcpy(net->addr, b.Data(), b.Length() <= 16 ? b.Length() : 16);
  net->bits = o.Get("bits").As<Napi::Number>().Int32Value();
}

Filter ReadFilter(const Napi::Value& v) {
  Filter f;
  if (!v.IsObject()) return f;
  Napi::Object o = v.As<Napi::Object>();
  auto flag = [&](const char* key, bool* out) {
    Napi::Value x = o.Get(key);
    if (x.IsBoolean()) *out = x.As<Napi::Boolean>().Value();
  };
  auto num = [&](const char* key, auto* out) {
    Napi::Value x = o.Get(key);
    if (x.IsNumber()) *out = static_cast<std::remove_pointer_t<decltype(out)>>(x.As<Napi::Number>().Int64Value());
  };
  flag("packets", &f.packets);
  flag("hops", &f.hops);
  flag("lines", &f.lines);
  Napi::Value prefix = o.Get("prefix");
  if (prefix.IsString()) {
    // latin1: the text of the lines is compared byte for byte.
    std::u16string s = prefix.As<Napi::String>().Utf16Value();
    for (char16_t c : s) f.prefix.push_back(static_cast<char>(c & 0xff));
    f.has_prefix = true;
  }
  num("family", &f.family);
  num("protocol", &f.protocol);
  num("port", &f.port);
  num("sport", &f.sport);
  num("dport", &f.dport);
  ReadNet(o.Get("src"), &f.src);
  ReadNet(o.Get("dst"), &f.dst);
  return f;
}

Napi::Value BatchToJs(Napi::Env env, const Batch& batch) {
  Napi::ArrayBuffer words = Napi::ArrayBuffer::New(env, batch.words.size() * sizeof(uint32_t));
  if (!batch.words.empty()) memcpy(words.Data(), batch.words.data(), batch.words.size() * sizeof(uint32_t));
  napi_value strings;
  napi_create_string_latin1(env, batch.strings.data(), batch.strings.size(), &strings);
  Napi::ArrayBuffer bytes = Napi::ArrayBuffer::New(env, batch.bytes.size());
  if (!batch.bytes.empty()) memcpy(bytes.Data(), batch.bytes.data(), batch.bytes.size());
  Napi::Array out = Napi::Array::New(env, 5);
  out.Set(0u, words);
  out.Set(1u, Napi::Value(env, strings));
  out.Set(2u, Napi::Number::New(env, batch.count));
  out.Set(3u, bytes);
  out.Set(4u, Napi::Number::New(env, batch.malformed));
  return out;
}

}  // namespace

// kernelLog({ kind: 'kmsg' | 'file', path?, fd?, follow, fromStart, fromEnd, maxLine, filter },
// onBatch, tuning): a Stream of KLOG_WORDS records.
Napi::Value KernelLog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction()) {
    ThrowTypeError(env, "kernelLog(config, onBatch, tuning)");
    return env.Undefined();
  }
  Napi::Object c = info[0].As<Napi::Object>();
  const std::string kind = c.Get("kind").ToString().Utf8Value();
  const bool follow = c.Get("follow").ToBoolean().Value();
  Filter filter = ReadFilter(c.Get("filter"));
  std::unique_ptr<Decoder> source;
  if (kind == "kmsg") {
    source = std::make_unique<KmsgSource>(std::move(filter), c.Get("fromStart").ToBoolean().Value(), follow);
  } else {
    std::string path;
    int fd = -1;
    if (c.Get("path").IsString()) path = c.Get("path").As<Napi::String>().Utf8Value();
    if (c.Get("fd").IsNumber()) {
      // Its own copy: the stream closes it, the process keeps its descriptor. The system call
      // itself: with large-file offsets, glibc 2.28+ headers turn fcntl() into fcntl64@GLIBC_2.28,
      // newer than the prebuilt binaries may ask for (GLIBC_2.17).
      fd = static_cast<int>(syscall(SYS_fcntl, c.Get("fd").As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3));
      if (fd < 0) {
        Failure f;
        f.set(errno, "fcntl", "standard input");
        MakeError(env, f).As<Napi::Error>().ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    const Napi::Value max_line = c.Get("maxLine");
    source = std::make_unique<FileSource>(std::move(filter), std::move(path), fd, follow,
                                          c.Get("fromEnd").ToBoolean().Value(),
                                          max_line.IsNumber() ? max_line.As<Napi::Number>().Uint32Value() : 65536);
  }
  ReaderOptions opt;
  ReadReaderOptions(info[2], &opt);
  return Stream::Start(env, info[1].As<Napi::Function>(), std::move(source), std::move(opt), KLOG_WORDS);
}

// decodeLogLines(text, kind: 'text' | 'kmsg', filter?): the records of each line of text (kmsg:
// each line one /dev/kmsg record) as [words, strings, count, bytes, malformed].
Napi::Value DecodeLogLines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !(info[0].IsString() || info[0].IsBuffer()) || !info[1].IsString()) {
    ThrowTypeError(env, "decodeLogLines(text, kind, filter)");
    return env.Undefined();
  }
  std::string text;
  if (info[0].IsBuffer()) {
    auto b = info[0].As<Napi::Buffer<char>>();
    text.assign(b.Data(), b.Length());
  } else {
    for (char16_t ch : info[0].As<Napi::String>().Utf16Value()) text.push_back(static_cast<char>(ch & 0xff));
  }
  const bool kmsg = info[1].As<Napi::String>().Utf8Value() == "kmsg";
  LineDecoder dec(ReadFilter(info.Length() > 2 ? info[2] : env.Undefined()));
  Batch batch;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    size_t len = nl - start;
    if (len > 0 || nl < text.size()) {
      if (kmsg) {
        uint64_t seq = 0;
        bool malformed = false;
        dec.KmsgRecord(text.data() + start, len, 0, &batch, &seq, &malformed);
        if (malformed) batch.malformed++;
      } else {
        if (len > 0 && text[start + len - 1] == '\r') len--;
        size_t i = start;
        while (i < start + len && (text[i] == ' ' || text[i] == '\t')) i++;
        bool malformed = false;
        if (i < start + len && text[i] == '{') dec.JsonLine(text.data() + start, len, &batch, &malformed);
        else dec.TextLine(text.data() + start, len, &batch);
        if (malformed) batch.malformed++;
      }
    }
    start = nl + 1;
  }
  return BatchToJs(env, batch);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("kernelLog", Napi::Function::New(env, KernelLog, "kernelLog"));
  exports.Set("decodeLogLines", Napi::Function::New(env, DecodeLogLines, "decodeLogLines"));
}

}  // namespace klog
}  // namespace nfct
