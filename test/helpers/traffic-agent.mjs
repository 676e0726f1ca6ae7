// Bounded traffic generator, run INSIDE a test netns by test/helpers/traffic.ts:
//   ip netns exec NS node traffic-agent.mjs '<json spec>'
// It prints JSON lines on stdout: {"event":"ready",...} once a held connection is up,
// {"event":"done",...} at the end, or {"event":"error","message":...}. It always exits by
// itself: after spec.maxMs (default 10 s) it gives up, and a held connection is closed after
// spec.holdMs (default 30 s, at most 120 s) or as soon as stdin is closed.
import dgram from 'node:dgram';
import net from 'node:net';

const spec = JSON.parse(process.argv[2] ?? '{}');

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function fail(message) {
  emit({ event: 'error', message: String(message) });
  process.exit(2);
}

const giveUp = setTimeout(() => fail(`timeout after ${spec.maxMs ?? 10000} ms`), spec.maxMs ?? 10000);

function finish(result) {
  clearTimeout(giveUp);
  emit({ event: 'done', ...result });
  // Let stdout drain, then leave even if some handle lingers.
  setImmediate(() => process.exit(0));
}

function payload(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 97 + (i % 26);
  return b;
}

async function tcp() {
  const {
    listenHost,
    listenPort = 0,
    connectHost = listenHost,
    localPort,
    bytes = 64,
    hold = false,
  } = spec;
  const serverSockets = [];
  let serverClosed = 0;
  const server = net.createServer((s) => {
    serverSockets.push(s);
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
    s.on('close', () => serverClosed++);
    s.on('error', () => undefined);
  });
  server.on('error', fail);
  await new Promise((res) => server.listen({ host: listenHost, port: listenPort, exclusive: true }, res));
  const serverPort = server.address().port;
  const connectPort = spec.connectPort ?? serverPort;

  const client = net.connect({ host: connectHost, port: connectPort, localPort });
  client.on('error', fail);
  await new Promise((res) => client.once('connect', res));
  const desc = {
    sport: client.localPort,
    dport: connectPort,
    src: client.localAddress,
    dst: connectHost,
    serverPort,
  };

  let got = 0;
  const echoed = new Promise((res) => {
    if (bytes === 0) res();
    client.on('data', (d) => {
      got += d.length;
      if (got >= bytes) res();
    });
  });
  if (bytes > 0) client.write(payload(bytes));
  await echoed;

  if (hold) {
    emit({ event: 'ready', ...desc, bytes: got });
    const holdMs = Math.min(spec.holdMs ?? 30000, 120000);
    clearTimeout(giveUp);
    await new Promise((res) => {
      const t = setTimeout(res, holdMs);
      process.stdin.on('data', () => undefined);
      process.stdin.on('end', () => {
        clearTimeout(t);
        res();
      });
      process.stdin.on('error', () => res());
    });
  }

  // Orderly close: client FIN, server echoes FIN, wait for both sockets to be closed.
  const clientClosed = new Promise((res) => client.once('close', res));
  client.end();
  await clientClosed;
  while (serverClosed < serverSockets.length) await new Promise((r) => setTimeout(r, 5));
  await new Promise((res) => server.close(res));
  finish({ ...desc, bytes: got });
}

async function udp() {
  const family = spec.family === 6 ? 'udp6' : 'udp4';
  const { listenHost, listenPort = 0, connectHost = listenHost, localPort = 0, count = 1, size = 32 } = spec;
  const reply = spec.reply ?? true;
  const server = dgram.createSocket(family);
  server.on('error', fail);
  server.on('message', (msg, rinfo) => {
    if (reply) server.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise((res) => server.bind({ address: listenHost, port: listenPort, exclusive: true }, res));
  const serverPort = server.address().port;
  const connectPort = spec.connectPort ?? serverPort;

  const client = dgram.createSocket(family);
  client.on('error', fail);
  await new Promise((res) => client.bind({ port: localPort }, res));
  await new Promise((res) => client.connect(connectPort, connectHost, res));
  let received = 0;
  let wake = () => undefined;
  client.on('message', () => {
    received++;
    wake();
  });
  const msg = payload(size);
  for (let i = 0; i < count; i++) {
    await new Promise((res, rej) => client.send(msg, (e) => (e ? rej(e) : res())));
    if (reply) {
      // wait (bounded) for this datagram's echo
      const deadline = Date.now() + 2000;
      while (received <= i && Date.now() < deadline) {
        await new Promise((res) => {
          wake = res;
          setTimeout(res, 50);
        });
      }
    }
  }
  if (!reply) await new Promise((r) => setTimeout(r, 20)); // let the datagrams land
  const desc = {
    sport: client.address().port,
    dport: connectPort,
    src: client.address().address,
    dst: connectHost,
    serverPort,
    sent: count,
    received,
  };
  client.close();
  server.close();
  finish(desc);
}

const ops = { tcp, udp };
const op = ops[spec.op];
if (!op) fail(`unknown op ${spec.op}`);
op().catch(fail);
