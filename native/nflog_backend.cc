// The nf_log backend of a family in a namespace (/proc/sys/net/netfilter/nf_log/<pf>): which
// logger the kernel's nf_log users (legacy iptables TRACE among them) write to. Read and
// written from a helper thread that entered the namespace, since /proc/sys/net shows the
// namespace of the task that reads it.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "async_op.h"
#include "errors.h"
#include "netns.h"

namespace nfct {

namespace {

// Reads the backend of a family in a namespace and, when value is given, sets it. Runs on
// libuv's pool; the file is read and written from a helper thread inside the namespace.
std::string Backend(const std::string& ns, int family, const std::string* value, Failure* f) {
  std::string previous;
  RunInNamespace(ns, f, [&]() {
    const std::string path = "/proc/sys/net/netfilter/nf_log/" + std::to_string(family);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      f->set(errno, "open", path);
      return;
    }
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
      f->set(errno, "read", path);
      return;
    }
    previous.assign(buf, static_cast<size_t>(n));
    while (!previous.empty() && (previous.back() == '\n' || previous.back() == ' ')) previous.pop_back();
    if (value == nullptr) return;
    fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, value->data(), value->size()) < 0) f->set(errno, "write", path + " = " + *value);
    if (fd >= 0) close(fd);
  });
  return previous;
}

}  // namespace

// nfLogBackend(nsPath | null, family, value | null): Promise<previous backend> ("NONE" if none)
Napi::Value NfLogBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsNumber()) return ThrowTypeError(env, "nfLogBackend(nsPath, family, value)");
  std::string ns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const bool set = info[2].IsString();
  const int family = info[1].As<Napi::Number>().Int32Value();
  const std::string value = set ? info[2].As<Napi::String>().Utf8Value() : "";
  auto previous = std::make_shared<std::string>();
  auto exec = [ns, family, set, value, previous](Failure* f) {
    *previous = Backend(ns, family, set ? &value : nullptr, f);
  };
  auto done = [previous](Napi::Env e) -> Napi::Value { return Napi::String::New(e, *previous); };
  return QueueOp(env, "nfct-nf-log", std::move(exec), std::move(done));
}

}  // namespace nfct
