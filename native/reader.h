// The batching reader: one dedicated thread per netlink job (a dump, an event or packet
// stream) that receives, decodes into plain records, and hands whole batches to JS, one
// crossing per batch.
//
// Flow control is by credits, one per record in flight (at least one per batch): JS returns a
// batch's credits (release(n)) once it has consumed it. With none left the thread stops
// reading, so a slow consumer slows a dump down (the kernel produces the next part only when
// asked) and, for a stream, lets the kernel drop and report it (ENOBUFS), which is counted and
// reported in order. Counting records, not batches, keeps the bound the same whether events
// come in bursts (full batches) or trickle (a batch whenever the socket runs dry).
#pragma once

#include <napi.h>
#include <linux/netlink.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"

namespace nfct {

struct Batch;

// Spent batches come back here from the JS thread so the reader reuses their memory instead
// of allocating (and page-faulting) a fresh buffer for every batch.
struct BatchPool {
  std::mutex mu;
  std::vector<std::unique_ptr<Batch>> free;
  size_t keep = 64;
  std::unique_ptr<Batch> Take();
  void Give(std::unique_ptr<Batch> b);
};

struct Batch {
  std::weak_ptr<BatchPool> pool;  // where the batch goes once JS has it (if still there)

  std::vector<uint32_t> words;  // count records of the decoder's record size
  std::string strings;          // NUL-terminated strings, in record order
  std::vector<uint8_t> bytes;   // binary fields records point into (packet payloads)
  uint32_t count = 0;           // records
  uint32_t received = 0;        // data messages read from the kernel, matched or not
  uint32_t malformed = 0;       // messages that could not be decoded (skipped)
  uint32_t overruns = 0;        // ENOBUFS seen before the records of this batch
  int rcvbuf = 0;               // receive buffer size after the last growth, 0 if unchanged
  uint32_t tally[4] = {0, 0, 0, 0};  // the decoder's own totals, on the final batch
  bool final = false;           // nothing follows
  Failure failure;              // set on the final batch when the job failed

  // Appends binary data to `bytes` and writes its offset and length to where[0], where[1].
  void AppendBytes(uint32_t* where, const void* data, size_t len) {
    where[0] = static_cast<uint32_t>(bytes.size());
    where[1] = static_cast<uint32_t>(len);
    const auto* p = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + len);
  }
};

// What a job does with each message; runs on the reader thread.
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes one data message into the batch (or skips it when it does not match).
  virtual void OnMessage(const nlmsghdr* nlh, Batch* batch) = 0;
  // Runs once on the reader thread, inside the namespace, once the socket is open and before
  // it joins its groups or sends anything: checks and socket options (a BPF filter).
  virtual bool Setup(int /*fd*/, Failure* /*failure*/) { return true; }
  // Runs once, on the reader thread, before the final batch goes (not when stopped early).
  virtual void Finish(Batch* /*final_batch*/, Failure* /*failure*/) {}
};

struct ReaderOptions {
  int nsfd = -1;                     // namespace to open the socket in (the reader closes it);
                                     // -1: the process's own
  int protocol = 0;                  // NETLINK_*
  std::vector<uint32_t> groups;      // multicast groups to join (streams)
  // Requests sent one after the other: the next when the kernel has finished the previous
  // (NLMSG_DONE). A request the kernel refuses (EINVAL, EOPNOTSUPP) before answering anything
  // is sent again as its fallback (empty: none).
  std::vector<std::vector<uint8_t>> requests;
  std::vector<std::vector<uint8_t>> fallbacks;
  bool dump = false;                 // ends at the last request's NLMSG_DONE
  int rcvbuf = 0;                    // initial receive buffer (0: kernel default)
  int rcvbuf_max = 0;                // grow up to this on ENOBUFS (0: never grow)
  uint32_t max_batch = 1024;         // records per batch
  int credits = 4096;                // records in flight
};

class Reader {
 public:
  // on_batch(buffer, strings, count, received, overruns, final, error, malformed, rcvbuf)
  Reader(Napi::Env env, Napi::Function on_batch, std::unique_ptr<Decoder> decoder,
         ReaderOptions options, uint32_t record_words);
  ~Reader();

  void Release(int n);  // a batch of n records consumed: its credits back
  void Stop();     // idempotent: ends the thread and releases the socket

 private:
  static void CallJs(Napi::Env env, Napi::Function fn, Reader* self, Batch* batch);
  static void Cleanup(void* arg);

  void Run();
  bool Setup(Failure* f);
  bool WaitCredit();
  // Hands the batch to JS and starts a new one in its place.
  bool Post(std::unique_ptr<Batch>& batch);
  bool PostAndWait(std::unique_ptr<Batch>& batch);
  std::unique_ptr<Batch> NewBatch();

  using Tsfn = Napi::TypedThreadSafeFunction<Reader, Batch, &Reader::CallJs>;

  Napi::Env env_;
  Tsfn tsfn_;
  std::unique_ptr<Decoder> decoder_;
  ReaderOptions opt_;
  uint32_t record_words_;
  std::shared_ptr<BatchPool> pool_ = std::make_shared<BatchPool>();
  int fd_ = -1;
  int wake_fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  int credits_;
  bool set_up_ = false;  // Setup() has run (bound and subscribed, or failed): guarded by mu_
  std::atomic<bool> stop_{false};
  bool stopped_ = false;
  bool in_cleanup_ = false;
  std::thread thread_;
};

}  // namespace nfct
