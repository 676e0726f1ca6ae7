// The programs of the node fixture's pods (test/helpers/k8s-node.ts), run inside a pod's
// namespace. Bounded: every mode exits by itself after spec.maxMs (default 10 s; a server 120 s),
// and a server also when its stdin closes.
//   serve: {"mode":"serve","name":"coredns-a","udp":[53],"tcp":[53]} answers each UDP datagram
//          and each TCP line with {"pod":NAME,"got":TEXT}; prints {"event":"ready"} when bound.
//   ask:   {"mode":"ask","host":"10.96.0.10","port":53,"localPort":40000,"text":"q1","timeoutMs":1500}
//          sends one UDP datagram from that port and prints {"event":"reply","reply":{...}} or
//          {"event":"timeout"}.
//   hold:  {"mode":"hold","host":...,"port":...,"localPort":...} opens a TCP connection, sends a
//          line, prints {"event":"ready","reply":{...}} and keeps it open until stdin closes.
import dgram from 'node:dgram';
import net from 'node:net';

const spec = JSON.parse(process.argv[2] ?? '{}');
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const limit = spec.maxMs ?? (spec.mode === 'serve' ? 120000 : 10000);
setTimeout(() => {
  emit({ event: 'error', message: `timeout after ${limit} ms` });
  process.exit(2);
}, limit).unref();
if (spec.mode !== 'ask') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

if (spec.mode === 'serve') {
  const waits = [];
  for (const port of spec.udp ?? []) {
    const s = dgram.createSocket('udp4');
    s.on('message',
      (msg, from) => s.send(JSON.stringify({ pod: spec.name, got: msg.toString() }), from.port, from.address));
    waits.push(new Promise((res, rej) => {
      s.once('error', rej);
      s.bind(port, '0.0.0.0', res);
    }));
  }
  for (const port of spec.tcp ?? []) {
    const srv = net.createServer((c) => {
      c.on('error', () => undefined);
      c.on('data', (d) => c.write(`${JSON.stringify({ pod: spec.name, got: d.toString().trim() })}\n`));
    });
    waits.push(new Promise((res, rej) => {
      srv.once('error', rej);
      srv.listen(port, '0.0.0.0', res);
    }));
  }
  Promise.all(waits).then(() => emit({ event: 'ready' }), (e) => {
    emit({ event: 'error', message: String(e) });
    process.exit(2);
  });
} else if (spec.mode === 'ask') {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const t = setTimeout(() => {
    emit({ event: 'timeout' });
    process.exit(0);
  }, spec.timeoutMs ?? 1500);
  s.on('message', (msg) => {
    clearTimeout(t);
    emit({ event: 'reply', reply: JSON.parse(msg.toString()) });
    process.exit(0);
  });
  s.bind(spec.localPort ?? 0, () => s.send(spec.text ?? 'q', spec.port, spec.host));
} else if (spec.mode === 'hold') {
  const c = net.connect({ host: spec.host, port: spec.port, localPort: spec.localPort });
  c.on('error', (e) => {
    emit({ event: 'error', message: String(e) });
    process.exit(2);
  });
  c.once('connect', () => c.write(`${spec.text ?? 'hello'}\n`));
  c.once('data', (d) => emit({ event: 'ready', reply: JSON.parse(d.toString().split('\n')[0]) }));
} else {
  emit({ event: 'error', message: `unknown mode ${spec.mode}` });
  process.exit(2);
}
