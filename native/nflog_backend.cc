// The nf_log backend of a family in a namespace (/proc/sys/net/netfilter/nf_log/<pf>): which
// logger the kernel's nf_log users (legacy iptables TRACE among them) write to. Read and
// written from a helper thread that entered the namespace, since /proc/sys/net shows the
// namespace of the task that reads it.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "addon.h"
#include "errors.h"
#include "netns.h"

namespace nfct {

namespace {

class BackendWorker : public Napi::AsyncWorker {
 public:
  BackendWorker(Napi::Env env, std::string ns, int family, bool set, std::string value)
      : Napi::AsyncWorker(env, "nfct-nf-log"),
        deferred_(Napi::Promise::Deferred::New(env)),
        ns_(std::move(ns)),
        family_(family),
        set_(set),
        value_(std::move(value)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    int nsfd = -1;
    if (!ns_.empty()) {
      nsfd = OpenNamespace(ns_, &failure_);
      if (nsfd < 0) return;
    }
    std::thread helper([&]() {
      if (!EnterNamespace(nsfd, &failure_)) return;
      const std::string path = "/proc/sys/net/netfilter/nf_log/" + std::to_string(family_);
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        failure_.set(errno, "open", path);
        return;
      }
      char buf[64] = {0};
      ssize_t n = read(fd, buf, sizeof(buf) - 1);
      close(fd);
      if (n < 0) {
        failure_.set(errno, "read", path);
        return;
      }
      previous_.assign(buf, static_cast<size_t>(n));
      while (!previous_.empty() && (previous_.back() == '\n' || previous_.back() == ' ')) previous_.pop_back();
      if (!set_) return;
      fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, value_.data(), value_.size()) < 0) failure_.set(errno, "write", path + " = " + value_);
      if (fd >= 0) close(fd);
    });
    helper.join();
    if (nsfd >= 0) close(nsfd);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (failure_.failed()) deferred_.Reject(MakeError(env, failure_));
    else deferred_.Resolve(Napi::String::New(env, previous_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string ns_;
  int family_;
  bool set_;
  std::string value_;
  std::string previous_;
  Failure failure_;
};

}  // namespace

// nfLogBackend(nsPath | null, family, value | null): Promise<previous backend> ("NONE" if none)
Napi::Value NfLogBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsNumber()) {
    ThrowTypeError(env, "nfLogBackend(nsPath, family, value)");
    return env.Undefined();
  }
  std::string ns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const bool set = info[2].IsString();
  auto* w = new BackendWorker(env, ns, info[1].As<Napi::Number>().Int32Value(), set,
                              set ? info[2].As<Napi::String>().Utf8Value() : "");
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace nfct
