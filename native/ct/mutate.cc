// Changing the table: create, add, update, delete, flush, batched creates and bulk deletes.
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ct/control.h"
#include "ct/conntrack.h"
#include "ct/filter.h"
#include "ct/request.h"
#include "stream.h"

namespace nfct {
namespace ct {

namespace {

enum CreateMode : uint32_t { kCreate = 0, kAdd = 1, kUpdate = 2 };

uint16_t CreateFlags(uint32_t mode) { return mode == kUpdate ? 0 : static_cast<uint16_t>(NLM_F_CREATE | NLM_F_EXCL); }

// A new entry needs IPS_CONFIRMED or the kernel answers EBUSY.
FlowSpec ForCreate(FlowSpec spec, uint32_t mode) {
  if (mode != kUpdate) spec.status = (spec.status < 0 ? 0 : spec.status) | IPS_CONFIRMED;
  return spec;
}

void PutDelete(nlmsghdr* nlh, const TupleSpec& t, int64_t id) {
  PutTuple(nlh, CTA_TUPLE_ORIG, t);
  if (t.zone >= 0) mnl_attr_put_u16(nlh, CTA_ZONE, htons(static_cast<uint16_t>(t.zone)));
  if (id >= 0) mnl_attr_put_u32(nlh, CTA_ID, htonl(static_cast<uint32_t>(id)));
}

// Appends one message to a run of requests (NlSendMany), built in place, with its own
// sequence number. A ctnetlink create or delete stays well under kMaxMessage.
template <typename Fill>
void AppendMessage(std::vector<uint8_t>* out, uint8_t type, uint16_t flags, uint8_t family, uint32_t seq, Fill&& fill) {
  constexpr size_t kMaxMessage = 1024;
  const size_t at = out->size();
  out->resize(at + kMaxMessage);
  nlmsghdr* nlh = NlPutHeader(out->data() + at, NFNL_SUBSYS_CTNETLINK, type, flags, family, seq);
  fill(nlh);
  out->resize(at + NLMSG_ALIGN(nlh->nlmsg_len));
}

NlRequest FlushRequest(const FlowFilter& f) {
  NlRequest req(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, 0, f.family);
  req.set_version(1);  // the kernel honours the family of a flush only with version 1
  if (f.mark_set) {
    mnl_attr_put_u32(req.header(), CTA_MARK, htonl(f.mark));
    mnl_attr_put_u32(req.header(), CTA_MARK_MASK, htonl(f.mark_mask));
  }
  if (f.status_set) {
    mnl_attr_put_u32(req.header(), CTA_STATUS, htonl(f.status));
    mnl_attr_put_u32(req.header(), CTA_STATUS_MASK, htonl(f.status_mask));
  }
  return req;
}

// Sends runs of delete requests from a thread of its own, so that the kernel's deletes (in
// sendmsg() here) and its dump (in the reader thread's recvmsg()) run on two cores at once. The
// socket is made by the reader thread, inside the namespace; a socket keeps its namespace
// whichever thread uses it. At most kMaxQueued runs wait: past that the dump waits for it.
class DeleteSender {
 public:
  explicit DeleteSender(int fd) : fd_(fd), thread_([this] { Run(); }) {}
  DeleteSender(const DeleteSender&) = delete;
  DeleteSender& operator=(const DeleteSender&) = delete;
  // Leaving early (the stream closed): what waits is dropped, the run being sent ends.
  ~DeleteSender() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.clear();
      closing_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Queues one run; false once a send has failed (nothing more is queued then).
  bool Push(std::vector<uint8_t>&& run) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return queue_.size() < kMaxQueued || failed_send_; });
    if (failed_send_) return false;
    queue_.push_back(std::move(run));
    cv_.notify_all();
    return true;
  }

  // Waits until every queued run is sent; the counts are final then.
  void Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  uint32_t gone() const { return gone_; }
  uint32_t failed() const { return failed_; }
  const Failure& failure() const { return failure_; }

 private:
  static constexpr size_t kMaxQueued = 8;

  void Run() {
    for (;;) {
      std::vector<uint8_t> run;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;
        run = std::move(queue_.front());
        queue_.pop_front();
      }
      cv_.notify_all();
      Failure f;
      const bool ok = NlSendMany(
          fd_, run, run.size(),
          [&](uint32_t, int err) {
            if (err == ENOENT) gone_++;
            else failed_++;
          },
          &f);
      if (!ok) {
        std::lock_guard<std::mutex> lock(mu_);
        failure_ = f;
        failed_send_ = true;
        queue_.clear();
        cv_.notify_all();
        return;
      }
    }
  }

  const int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<uint8_t>> queue_;
  bool closing_ = false;
  bool failed_send_ = false;
  // Written by the sender thread only, read after it has ended.
  uint32_t gone_ = 0, failed_ = 0;
  Failure failure_;
  std::thread thread_;
};

// Bulk delete riding on a dump: every matching flow becomes a delete request; runs of them go
// many to a sendmsg() on a second socket, from a thread of their own, while the dump goes on.
// A dry run only counts. Tally: matched, deleted, gone (ENOENT: vanished in between), failed.
class DeleteDecoder : public Decoder {
 public:
  DeleteDecoder(const FlowFilter& filter, bool dry_run, bool report)
      : filter_(filter), dry_run_(dry_run), report_(report) {}
  ~DeleteDecoder() override {
    sender_.reset();  // before the socket it sends on
    if (fd_ >= 0) close(fd_);
  }

  void OnMessage(const nlmsghdr* nlh, Batch* batch) override {
    if (!DecodeFlowMessage(nlh, &flow_)) {
      batch->malformed++;
      return;
    }
    if (!Matches(filter_, flow_)) return;
    matched_++;
    // Reported: the entry as it was when the dump read it (its delete follows).
    if (report_) AppendRecord(flow_, batch);
    if (dry_run_ || stopped_) return;
    TupleSpec t;
    t.family = flow_.family();
    t.protocol = flow_.l4proto();
    const uint32_t* o = &flow_.w[FLOW_ORIG];
    memcpy(t.src, flow_.addr[0][0], 16);
    memcpy(t.dst, flow_.addr[0][1], 16);
    if (o[TUPLE_META] & TUPLE_HAS_PORTS) {
      t.sport = static_cast<int32_t>(o[TUPLE_PORTS] & 0xffff);
      t.dport = static_cast<int32_t>(o[TUPLE_PORTS] >> 16);
    }
    if (o[TUPLE_META] & TUPLE_HAS_ICMP) {
      t.icmp_type = static_cast<int32_t>(o[TUPLE_ICMP] & 0xff);
      t.icmp_code = static_cast<int32_t>((o[TUPLE_ICMP] >> 8) & 0xff);
      t.icmp_id = static_cast<int32_t>(o[TUPLE_ICMP] >> 16);
    }
    if (o[TUPLE_META] & TUPLE_HAS_ZONE) t.tuple_zone = static_cast<int32_t>(o[TUPLE_ZONE]);
    if (flow_.has(FLOW_HAS_ZONE)) t.zone = static_cast<int32_t>(flow_.w[FLOW_ZONE]);
    const int64_t id = flow_.has(FLOW_HAS_ID) ? flow_.w[FLOW_ID] : -1;
    AppendMessage(&out_, IPCTNL_MSG_CT_DELETE, 0, t.family, seq_++, [&](nlmsghdr* m) { PutDelete(m, t, id); });
    sent_++;
    // After a failed send the rest is only counted; the failure ends the job.
    if (out_.size() >= kFlushAt && !SendDeletes(&pending_failure_)) stopped_ = true;
  }

  void Finish(Batch* batch, Failure* f) override {
    if (!pending_failure_.failed() && !dry_run_) SendDeletes(&pending_failure_);
    if (sender_) {
      sender_->Finish();
      gone_ += sender_->gone();
      failed_ += sender_->failed();
      if (!pending_failure_.failed() && sender_->failure().failed()) pending_failure_ = sender_->failure();
    }
    if (pending_failure_.failed()) *f = pending_failure_;
    batch->tally[0] = matched_;
    batch->tally[1] = sent_ - gone_ - failed_;
    batch->tally[2] = gone_;
    batch->tally[3] = failed_;
  }

 private:
  static constexpr size_t kFlushAt = 32 * 1024;

  bool Socket(Failure* f) {
    if (fd_ < 0) {
      fd_ = NlOpen(NETLINK_NETFILTER, f);  // on the reader thread: inside the namespace
      if (fd_ >= 0) NlSetRcvBuf(fd_, 4 << 20);
    }
    return fd_ >= 0;
  }

  // Hands the run of deletes built so far to the sender thread (started on the first run).
  bool SendDeletes(Failure* f) {
    if (out_.empty()) return true;
    if (!Socket(f)) return false;
    if (!sender_) sender_ = std::make_unique<DeleteSender>(fd_);
    std::vector<uint8_t> run;
    run.swap(out_);
    out_.reserve(kFlushAt + 1024);
    if (sender_->Push(std::move(run))) return true;
    // A send failed: the sender has stopped; its failure is reported by Finish().
    return false;
  }

  FlowFilter filter_;
  bool dry_run_;
  bool report_;
  bool stopped_ = false;
  Flow flow_;
  int fd_ = -1;
  std::vector<uint8_t> out_;
  std::unique_ptr<DeleteSender> sender_;
  uint32_t seq_ = NlNextSeq(1u << 24);
  uint32_t matched_ = 0, sent_ = 0, gone_ = 0, failed_ = 0;
  Failure pending_failure_;
};

}  // namespace

namespace {

// Sends n requests built by put(i, seq, &msgs), many per sendmsg(), and resolves an
// Int32Array of the errno of each (0: done).
template <typename Put>
Napi::Value QueueMany(Napi::Env env, std::shared_ptr<ControlSocket> sock, uint32_t n, Put put) {
  auto errs = std::make_shared<std::vector<int32_t>>(n, 0);
  auto exec = [errs, n, put](int fd, Failure* f) {
    std::vector<uint8_t> msgs;
    msgs.reserve(static_cast<size_t>(n) * 200);
    const uint32_t first = NlNextSeq(n);
    for (uint32_t i = 0; i < n; i++) put(i, first + i, &msgs);
    NlSendMany(
        fd, msgs, 32 * 1024,
        [&](uint32_t seq, int err) {
          if (seq - first < n) (*errs)[seq - first] = err;
        },
        f);
  };
  auto done = [errs](Napi::Env e) -> Napi::Value {
    Napi::Int32Array out = Napi::Int32Array::New(e, errs->size());
    if (out.IsEmpty()) return Napi::Value();  // the environment is going away
    for (size_t i = 0; i < errs->size(); i++) out[i] = (*errs)[i];
    return out;
  };
  return QueueControl(env, std::move(sock), exec, done);
}

// Reads (Uint32Array of packed specs, helper names or undefined) from a call; false with a
// JS error when the shapes are wrong.
bool ReadSpecs(const Napi::CallbackInfo& info, std::vector<FlowSpec>* out) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[2].IsNumber()) {
    ThrowTypeError(env, "(specs: Uint32Array, helpers, mode)");
    return false;
  }
  auto words = info[0].As<Napi::Uint32Array>();
  if (words.ElementLength() % SPEC_WORDS != 0) {
    ThrowTypeError(env, "specs: a whole number of packed specs");
    return false;
  }
  const size_t n = words.ElementLength() / SPEC_WORDS;
  Napi::Array helpers = info[1].IsArray() ? info[1].As<Napi::Array>() : Napi::Array();
  out->resize(n);
  std::string none;
  for (size_t i = 0; i < n; i++) {
    const uint32_t* w = words.Data() + i * SPEC_WORDS;
    std::string helper;
    if ((w[SPEC_FLAGS] & SPEC_HAS_HELPER) && !helpers.IsEmpty()) {
      Napi::Value h = helpers.Get(static_cast<uint32_t>(i));
      if (h.IsString()) helper = h.As<Napi::String>().Utf8Value();
    }
    UnpackFlowSpec(w, helper, &(*out)[i]);
  }
  return true;
}

}  // namespace

// create(specs, helpers, mode): Promise<boolean>; one spec. mode 0 create, 1 add (false when
// it existed), 2 update
Napi::Value Conntrack::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<FlowSpec> specs;
  if (!ReadSpecs(info, &specs)) return env.Undefined();
  if (specs.size() != 1) return ThrowTypeError(env, "create: one spec");
  const FlowSpec& spec = specs[0];
  const uint32_t mode = info[2].As<Napi::Number>().Uint32Value();
  auto created = std::make_shared<bool>(true);
  FlowSpec s = ForCreate(spec, mode);
  auto exec = [s, mode, created](int fd, Failure* f) {
    NlRequest req(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW, CreateFlags(mode), s.orig.family);
    PutFlowSpec(req.header(), s);
    Failure local;
    NlTransact(
        fd, req, [](const nlmsghdr*) {}, &local);
    if (mode == kAdd && local.err == EEXIST) *created = false;
    else if (local.failed()) *f = local;
  };
  return QueueControl(env, sock_, exec, [created](Napi::Env e) { return Napi::Boolean::New(e, *created); });
}

// delete(tuple, id): Promise<void> (id -1: any entry with that tuple)
Napi::Value Conntrack::Delete(const Napi::CallbackInfo& info) {
  return QueueDelete(info, sock_, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, PutDelete);
}

// flush(filter): Promise<void>; the filter holds family, mark and status only
Napi::Value Conntrack::Flush(const Napi::CallbackInfo& info) {
  FlowFilter filter;
  if (info.Length() < 1 || !ParseFilter(info[0], &filter)) return info.Env().Undefined();
  return QueueRequest(info.Env(), sock_, [filter]() { return FlushRequest(filter); });
}

// createBatch(specs, helpers, mode): Promise<Int32Array> of errno per spec (0: done; with
// mode add, EEXIST stays EEXIST for lib/ to count as "already there"). The messages are built
// on the worker thread, off the JS thread.
Napi::Value Conntrack::CreateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto specs = std::make_shared<std::vector<FlowSpec>>();
  if (!ReadSpecs(info, specs.get())) return env.Undefined();
  const uint32_t mode = info[2].As<Napi::Number>().Uint32Value();
  return QueueMany(env, sock_, static_cast<uint32_t>(specs->size()),
                   [specs, mode](uint32_t i, uint32_t seq, std::vector<uint8_t>* msgs) {
                     const FlowSpec s = ForCreate((*specs)[i], mode);
                     AppendMessage(msgs, IPCTNL_MSG_CT_NEW, CreateFlags(mode), s.orig.family, seq,
                                   [&](nlmsghdr* m) { PutFlowSpec(m, s); });
                   });
}

// deleteBatch(specs, helpers, 0, ids): Promise<Int32Array> of errno per spec (0: deleted). Each
// packed spec names an entry by its original tuple (and zone); ids[i] >= 0 also requires that
// entry id, so an entry replaced since it was read is left alone. Many requests per sendmsg().
Napi::Value Conntrack::DeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto specs = std::make_shared<std::vector<FlowSpec>>();
  if (!ReadSpecs(info, specs.get())) return env.Undefined();
  if (info.Length() < 4 || !info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[3].As<Napi::Float64Array>().ElementLength() != specs->size()) {
    ThrowTypeError(env, "deleteBatch(specs, helpers, mode, ids: Float64Array, one per spec)");
    return env.Undefined();
  }
  Napi::Float64Array ids_in = info[3].As<Napi::Float64Array>();
  auto ids = std::make_shared<std::vector<int64_t>>(specs->size());
  for (size_t i = 0; i < specs->size(); i++) (*ids)[i] = static_cast<int64_t>(ids_in[i]);
  return QueueMany(env, sock_, static_cast<uint32_t>(specs->size()),
                   [specs, ids](uint32_t i, uint32_t seq, std::vector<uint8_t>* msgs) {
                     TupleSpec t = (*specs)[i].orig;
                     if ((*specs)[i].zone >= 0) t.zone = (*specs)[i].zone;
                     AppendMessage(msgs, IPCTNL_MSG_CT_DELETE, 0, t.family, seq,
                                   [&](nlmsghdr* m) { PutDelete(m, t, (*ids)[i]); });
                   });
}

// deleteWhere(filter, dryRun, onBatch, report): Stream whose final batch tallies
// [matched, deleted, gone, failed] (lib/ hands family/mark/status-only filters to flush());
// with report, every batch also carries the matched flows' records.
Napi::Value Conntrack::DeleteWhere(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[2].IsFunction()) return ThrowTypeError(env, "deleteWhere(filter, dryRun, onBatch)");
  FlowFilter filter;
  if (!ParseFilter(info[0], &filter)) return env.Undefined();
  const bool dry_run = info[1].ToBoolean().Value();
  const bool report = info.Length() > 3 && info[3].ToBoolean().Value();
  ReaderOptions opt;
  if (!ReaderOn(env, true, &opt)) return env.Undefined();
  SetDumpRequests(filter, IPCTNL_MSG_CT_GET, &opt);
  return Stream::Start(env, info[2].As<Napi::Function>(), std::make_unique<DeleteDecoder>(filter, dry_run, report),
                       std::move(opt), FLOW_WORDS);
}

}  // namespace ct
}  // namespace nfct
