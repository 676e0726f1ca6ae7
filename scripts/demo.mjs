// Makes a throwaway network namespace, sends TCP, UDP and ICMP traffic over its loopback, and
// prints the namespace's conntrack table as the library reads it. Removes the namespace on
// the way out, whatever happens.
import { execFileSync } from 'node:child_process';

import { Conntrack } from '../dist/index.mjs';

const ns = `nfct-demo-${process.pid}`;
const sh = (...args) => execFileSync('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

const traffic = `
const net = require('node:net'), dgram = require('node:dgram');
const srv = net.createServer((s) => s.end('hello')).listen(8080, '127.0.0.1', () => {
  const c = net.connect(8080, '127.0.0.1', () => c.write('hi'));
  c.on('data', () => {}); c.on('close', () => srv.close());
});
const u = dgram.createSocket('udp4').bind(5353, '127.0.0.1', () => {
  u.on('message', (m, r) => { u.send(m, r.port, r.address); setTimeout(() => { u.close(); c6.close(); }, 50); });
  const c6 = dgram.createSocket('udp4'); c6.send('q', 5353, '127.0.0.1');
});
setTimeout(() => process.exit(0), 3000).unref();
`;

execFileSync('ip', ['netns', 'add', ns]);
try {
  sh('ip', 'link', 'set', 'lo', 'up');
  sh('sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1');
  // Connection tracking runs in a namespace once a rule there uses it.
  sh('nft',
    'add table inet demo; add chain inet demo out { type filter hook output priority 0; }; add rule inet demo out ct state new counter');
  sh('node', '-e', traffic);
  sh('ping', '-c', '1', '-W', '1', '127.0.0.1');

  const ct = await Conntrack.open({ netns: ns });
  console.log(`conntrack table of network namespace ${ns}:`);
  for await (const f of ct.list()) {
    const o = f.original;
    const r = f.reply;
    const ports = 'srcPort' in o
      ? ` sport=${o.srcPort} dport=${o.dstPort}`
      : 'type' in o
      ? ` type=${o.type} code=${o.code} id=${o.id}`
      : '';
    const state = f.protocol === 'tcp' && f.tcp ? ` ${f.tcp.state}` : '';
    const bytes = f.counters
      ? ` packets=${f.counters.original.packets}+${f.counters.reply.packets} bytes=${f.counters.original.bytes}+${f.counters.reply.bytes}`
      : '';
    console.log(
      `  ${f.protocol.padEnd(6)} ${
        String(f.timeout ?? '').padStart(6)
      }s${state} src=${o.src} dst=${o.dst}${ports} -> reply src=${r.src} dst=${r.dst}${bytes} [${
        f.status.names().join(' ')
      }]`,
    );
  }
  console.log(`${await ct.count()} flow entries`);
  ct.close();
} finally {
  execFileSync('ip', ['netns', 'delete', ns]);
}
