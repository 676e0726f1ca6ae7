// Files read inside a network namespace without a process: /proc/sys/net and
// /proc/thread-self/net show the namespace of the thread that reads them, so a helper thread
// enters the namespace and reads them all (the doctor reads a dozen files in each of a hundred
// namespaces; an nsenter per file costs a process each). Also the nf_tables tables there.
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "async_op.h"
#include "attr.h"
#include "errors.h"
#include "netns.h"
#include "nl.h"

namespace nfct {

namespace {

// The file's text, or nothing (a null in the result) when it cannot be opened or read.
bool ReadWhole(const std::string& path, std::string* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  char buf[16384];
  ssize_t n;
  bool ok = true;
  while ((n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) {
      ok = false;
      break;
    }
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > (64u << 20)) break;
  }
  close(fd);
  return ok;
}

// "family name" of every nf_tables table of the namespace (NFT_MSG_GETTABLE dump).
void ListTables(std::vector<std::string>* out, Failure* f) {
  const int fd = NlOpen(NETLINK_NETFILTER, f);
  if (fd < 0) return;
  NlRequest req(NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE, NLM_F_DUMP, NFPROTO_UNSPEC);
  NlTransact(
      fd, req,
      [&](const nlmsghdr* nlh) {
        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) return;
        const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
        const char* family = nfg->nfgen_family == NFPROTO_IPV4     ? "ip"
                             : nfg->nfgen_family == NFPROTO_IPV6   ? "ip6"
                             : nfg->nfgen_family == NFPROTO_INET   ? "inet"
                             : nfg->nfgen_family == NFPROTO_ARP    ? "arp"
                             : nfg->nfgen_family == NFPROTO_BRIDGE ? "bridge"
                                                                   : "netdev";
        attr::ForEachInMessage(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
          if (attr::Type(a) == NFTA_TABLE_NAME) out->push_back(std::string(family) + " " + attr::Str(a));
          return true;
        });
      },
      f);
  close(fd);
}

}  // namespace

// readInNamespace(nsPath | null, paths: string[], withTables: boolean):
//   Promise<[contents: (string | null)[], tables: string[] | Error | null]>
// tables: null when not asked for, the error (an NfctError) when they could not be listed.
Napi::Value ReadInNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsArray()) {
    ThrowTypeError(env, "readInNamespace(nsPath, paths, withTables)");
    return env.Undefined();
  }
  const std::string ns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  std::vector<std::string> paths;
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    paths.push_back(v.IsString() ? v.As<Napi::String>().Utf8Value() : "");
  }
  const bool with_tables = info.Length() > 2 && info[2].ToBoolean().Value();
  struct Result {
    std::vector<std::string> texts;
    std::vector<bool> read;
    std::vector<std::string> tables;
    Failure tables_failure;
  };
  auto result = std::make_shared<Result>();
  auto exec = [ns, paths, with_tables, result](Failure* f) {
    RunInNamespace(ns, f, [&]() {
      result->texts.resize(paths.size());
      result->read.resize(paths.size());
      for (size_t i = 0; i < paths.size(); i++) result->read[i] = ReadWhole(paths[i], &result->texts[i]);
      if (with_tables) ListTables(&result->tables, &result->tables_failure);
    });
  };
  auto done = [result, with_tables](Napi::Env e) -> Napi::Value {
    Napi::Array texts = Napi::Array::New(e, result->texts.size());
    for (size_t i = 0; i < result->texts.size(); i++) {
      texts.Set(static_cast<uint32_t>(i),
                result->read[i] ? Napi::Value(Napi::String::New(e, result->texts[i])) : e.Null());
    }
    Napi::Value tables = e.Null();
    if (with_tables && result->tables_failure.failed()) {
      tables = MakeError(e, result->tables_failure);
    } else if (with_tables) {
      Napi::Array t = Napi::Array::New(e, result->tables.size());
      for (size_t i = 0; i < result->tables.size(); i++)
        t.Set(static_cast<uint32_t>(i), Napi::String::New(e, result->tables[i]));
      tables = t;
    }
    Napi::Array out = Napi::Array::New(e, 2);
    out.Set(0u, texts);
    out.Set(1u, tables);
    return out;
  };
  return QueueOp(env, "nfct-ns-files", std::move(exec), std::move(done));
}

}  // namespace nfct
