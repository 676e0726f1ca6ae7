// Flows as `conntrack -L` prints them, formatted straight from their records (flow.h): for
// commands and callers that want the text, not objects (a dump of a million entries then makes
// no object per entry in JS).
//
// The text is the one lib/conntrack/text.ts formatFlow() makes from the Flow that
// lib/conntrack/flow.ts decodes from the same record, byte for byte
// (test/conntrack/text.test.ts holds the two equal, and equal to conntrack -L, over every
// protocol, state and optional field); see that file for conntrack's quirks kept here.
#pragma once

#include <napi.h>

namespace nfct {
namespace ct {

// formatFlows(records: ArrayBuffer, strings: string, count, {extended?, id?}): Buffer of the
// count lines, each with its newline. Runs on the calling (JS) thread: the reader thread goes
// on with the dump meanwhile.
void InitText(Napi::Env env, Napi::Object exports);

}  // namespace ct
}  // namespace nfct
