export { Conntrack, FlowStream } from './conntrack/handle.js';
export type { DeleteById, FlushOptions, ListOptions, ListTextOptions, OpenOptions } from './conntrack/handle.js';
export { flowKey } from './conntrack/key.js';
export { TableWatch } from './conntrack/watch.js';
export type { WatchChange, WatchItem, WatchOptions, WatchSnapshot } from './conntrack/watch.js';
export type { BulkOptions, DeleteEachOptions, DeleteWhereOptions, FlowUpdate, UpdateWhereOptions } from './conntrack/bulk.js';
export type { CreateManyOptions, CreateManyResult, CreateManyStop, RestoreOptions, RestoreResult } from './conntrack/create-many.js';
export type { LineFormat } from './conntrack/line-format.js';
export { parseSave, parseSaveLine } from './conntrack/save.js';
export type { FlowChanges, FlowInput, NatInput, ReplyInput } from './conntrack/flowspec.js';
export { NfctError, ClosedError } from './core/errors.js';
export { NativeLoadError } from './core/load-error.js';
export { EventCounter, EventStream } from './conntrack/events.js';
export type { ConntrackEvent, CountEventOptions, EventOptions, EventType, ExpectationEvent, ExpectationEventType, FlowEvent, FlowEventType, OverrunEvent, ResyncEvent } from './conntrack/events.js';
export { Expectations } from './conntrack/expect.js';
export { Nflog, PacketStream, decodePackets } from './nflog/handle.js';
export type { HookName, LogInterface, NflogEvent, NflogGap, NflogOpenOptions, NflogOverrun, NflogPacket, NflogPacketEvent, SubscribeOptions } from './nflog/handle.js';
export type { Expectation, ExpectationCpuStats, ExpectationFilter, ExpectationFlag, ExpectationFlushOptions, ExpectationInput } from './conntrack/expect.js';
export { RecordStream } from './core/stream.js';
export type { LiveStreamOptions } from './core/stream.js';
export type { FlowFilter } from './conntrack/filter.js';
export { AGGREGATE_KEYS } from './conntrack/aggregate.js';
export type { AddressPrefix, AggregateGroup, AggregateKey, AggregateKeyValues, AggregateOptions, AggregateResult, AggregateSort, LegacyAggregateKey, LegacyAggregateOptions, PrefixKey } from './conntrack/aggregate.js';
export { flowJson, jsonSafe } from './conntrack/flow.js';
export type { NetnsOption } from './core/netns.js';
export { listNamespaces, namespaceLabel, ownNamespaceLabel, parseCgroup } from './core/netns-discovery.js';
export { parseServices, readServices, Services } from './k8s/services.js';
export type { Endpoint, KubernetesServiceName, ReadServicesOptions, RulesetTexts, SaveText, ServicePort } from './k8s/services.js';
export { findStaleEntries, findUnanswered, serviceOfFlow, staleDeleteArgs } from './k8s/stale.js';
export type { FlowService, StaleGroup, UnansweredGroup } from './k8s/stale.js';
export type { L4, RulesetKind } from './k8s/rules.js';
export { readPodLogDirs } from './core/pods.js';
export type { PodIdentity } from './core/pods.js';
export { findPodNamespace } from './k8s/node.js';
export type { FindPodOptions } from './k8s/node.js';
export type { ListNamespacesOptions, NamespaceProcess, NetworkNamespace } from './core/netns-discovery.js';
export { mapSettled, DEFAULT_CONCURRENCY } from './core/concurrency.js';
export type { Settled } from './core/concurrency.js';
export { createExporter, CPU_STAT_COUNTERS } from './exporter/exporter.js';
export type { Exporter, ExporterOptions } from './exporter/exporter.js';
export { serveExporter, DEFAULT_EXPORTER_PORT } from './exporter/server.js';
export type { ServeOptions } from './exporter/server.js';
export type { RawBatch, ReaderStats } from './core/reader.js';
export type { StreamStats } from './core/stream.js';
export { Status, STATUS_NAMES } from './conntrack/status.js';
export type { TupleInput } from './conntrack/tuple.js';
export { PROTOCOLS } from './core/protocols.js';
export { TCP_STATES } from './conntrack/constants.js';
export type * from './conntrack/types.js';
export { Trace } from './trace/handle.js';
export { TracePacketStream, TraceStream } from './trace/streams.js';
export { parseTraceLine, parseTracePrefix } from './trace/decode.js';
export type {
  LegacyTraceEvent,
  NftablesFamily,
  NftablesTraceEvent,
  KernelLogTraceEvent,
  TraceAddressMatch,
  TraceConntrack,
  TraceEvent,
  TraceKind,
  TraceMatch,
  TraceOpenOptions,
  TracePacket,
  TracePacketsOptions,
  TracePortMatch,
  TraceSource,
  TraceStreamOptions,
} from './trace/types.js';
export type { TraceSelectionStats } from './trace/selection.js';
export { KernelLog, KernelLogStream } from './kmsg/handle.js';
export type { KernelLogFileOptions, KernelLogFilter, KernelLogItem, KernelLogLine, KernelLogLoss, KernelLogOptions, KernelLogPacket, KernelLogSource, KmsgOptions } from './kmsg/handle.js';
export { decodePacket } from './packet/decode.js';
export type {
  AhHeader,
  DecodedPacket,
  DecodedPacketBase,
  EspHeader,
  FragmentInfo,
  GreHeader,
  Icmpv6Header,
  IcmpHeader,
  Ipv4Flags,
  Ipv4Header,
  Ipv4Packet,
  Ipv6AhExtension,
  Ipv6EspExtension,
  Ipv6Extension,
  Ipv6FragmentExtension,
  Ipv6OptionsExtension,
  Ipv6RoutingExtension,
  Ipv6Header,
  Ipv6Packet,
  LayerName,
  NoTransportReason,
  PacketFamily,
  SctpHeader,
  TcpFlagName,
  TcpHeader,
  UdpHeader,
  UdpLiteHeader,
} from './packet/types.js';
export { parseLogLine } from './nflog/logline-parse.js';
export type { ParsedLogArp, ParsedLogIcmp, ParsedLogLine, ParsedLogPacket, ParsedLogTcp, SyslogHeader } from './nflog/logline-types.js';
export { formatLogLine } from './nflog/logline-format.js';
export type { LogLineOptions } from './nflog/logline-format.js';
export {
  CONNTRACK_BANNER,
  formatCount,
  formatCpuStats,
  formatEvent,
  formatExpectation,
  formatExpectationCpuStats,
  formatExpectationEvent,
  formatExpectationXml,
  expectationTimePrefix,
  formatFlow,
  formatFlushMessage,
  formatSave,
  formatSummary,
  formatXml,
  formatXmlDocument,
} from './conntrack/text.js';
export type { EventFormatOptions, ExpectationEventFormatOptions, ExpectationFormatOptions, ExpectationXmlOptions, FlowFormatOptions, SaveFormatOptions, SummaryCommand, UserspaceOrigin, XmlFormatOptions } from './conntrack/text.js';
export { FlowRecordStream } from './flows/stream.js';
export type { FlowItem, FlowOverrun, FlowsOptions } from './flows/stream.js';
export { flowRecordJson, formatFlowRecord } from './flows/record.js';
export type { Endpoints, FlowEndReason, FlowNamespace, FlowRecord, FlowTimeSource } from './flows/record.js';
export { FLOW_SYSCTLS } from './flows/settings.js';
export type { FlowSysctl } from './flows/settings.js';
export { IpfixExporter } from './flows/exporter.js';
export type { IpfixExporterOptions, IpfixExporterStats } from './flows/exporter.js';
export type { CollectorSpec, CollectorStats, Transport } from './flows/collector.js';
export type { FlowExportOptions } from './exporter/flows.js';
