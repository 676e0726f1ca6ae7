export { Conntrack, FlowStream } from './conntrack/handle.js';
export type { CpuStats, CreateManyOptions, CreateManyResult, CreateManyStop, ListOptions, OpenOptions } from './conntrack/handle.js';
export type { FlowChanges, FlowInput, NatInput, ReplyInput } from './conntrack/flowspec.js';
export { NfctError, ClosedError } from './core/errors.js';
export { EventStream } from './conntrack/events.js';
export type { ConntrackEvent, EventOptions, EventType, ExpectationEvent, FlowEvent, OverrunEvent, ResyncEvent } from './conntrack/events.js';
export { Expectations } from './conntrack/expect.js';
export { Nflog, PacketStream, decodePackets } from './nflog/handle.js';
export type { HookName, LogInterface, NflogEvent, NflogGap, NflogOverrun, NflogPacket, NflogPacketEvent, SubscribeOptions } from './nflog/handle.js';
export type { Expectation, ExpectationFilter, ExpectationFlag, ExpectationInput } from './conntrack/expect.js';
export { RecordStream } from './core/stream.js';
export type { FlowFilter } from './conntrack/filter.js';
export { jsonSafe } from './conntrack/flow.js';
export type { NetnsOption } from './core/netns.js';
export type { ReaderStats } from './core/reader.js';
export { Status, STATUS_NAMES } from './conntrack/status.js';
export type { TupleInput } from './conntrack/tuple.js';
export { PROTOCOLS, TCP_STATES } from './core/constants.js';
export type * from './conntrack/types.js';
export { Trace, TracePacketStream, TraceStream, parseTraceLine, parseTracePrefix } from './trace/handle.js';
export type { TraceEvent, TraceKind, TraceMatch, TraceOpenOptions, TracePacket, TraceStreamOptions } from './trace/handle.js';
export { decodePacket } from './packet/decode.js';
export type { DecodedPacket, Icmpv6Header, IcmpHeader, Ipv4Header, Ipv6Header, TcpHeader, UdpHeader } from './packet/decode.js';
export { parseLogLine } from './nflog/logline-parse.js';
export type { ParsedLogLine } from './nflog/logline-parse.js';
export { formatLogLine } from './nflog/logline-format.js';
export type { LogLineOptions } from './nflog/logline-format.js';
export {
  CONNTRACK_BANNER,
  formatCount,
  formatCpuStats,
  formatEvent,
  formatExpectation,
  formatExpectationEvent,
  formatFlow,
  formatFlushMessage,
  formatSave,
  formatSummary,
  formatXml,
  formatXmlDocument,
} from './conntrack/text.js';
export type { EventFormatOptions, ExpectationFormatOptions, FlowFormatOptions, SaveFormatOptions, UserspaceOrigin, XmlFormatOptions } from './conntrack/text.js';
