// What one Streamable HTTP request costs the client's CPU, by HTTP client: node:http (one keep-alive
// Agent, as src/probe/streamable-http.ts) against undici's pooled `request()` (one Agent), for a POST
// whose answer is a tools/list of the fixture's size, as JSON or as an event stream. The server runs
// in a child process (this file with --serve), so only the client's work is counted
// (process.cpuUsage() of this process across each batch). Variants are interleaved over rounds and the
// median per round is printed. Prints figures only. With --fresh, two more variants: node:http without
// an agent (`Connection: close`, as the transport sends a request whose connection will not be reused),
// and a bare `net.Socket` with the request written and the answer parsed by hand, the floor of what a
// hand-written HTTP/1.1 client could cost on a new connection.
//
//   npm run build && node dist/bench/http-client-cost.js [--requests 2000] [--rounds 5] [--concurrency 20]
//
// --fresh   the server closes every connection after its answer (a new TCP connection per request,
//           as when the server's keep-alive is shorter than the check interval)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest, Agent as HttpAgent, createServer, type IncomingMessage } from 'node:http';
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent as UndiciAgent, request as undiciRequest } from 'undici';
import { arg, load, machine, quantile } from './agent-harness.js';

const TOOLS = Array.from({ length: 3 }, (_, i) => ({
  name: `tool_${i}`,
  description: `Fixture tool ${i}: echoes its input back, for probing`,
  inputSchema: { type: 'object', properties: { text: { type: 'string' }, n: { type: 'number' } }, required: ['text'], additionalProperties: false, $schema: 'http://json-schema.org/draft-07/schema#' },
}));

function serve(sse: boolean, fresh: boolean): void {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { id } = JSON.parse(Buffer.concat(chunks).toString()) as { id: number };
      const body = JSON.stringify({ result: { tools: TOOLS }, jsonrpc: '2.0', id });
      const headers: Record<string, string> = fresh ? { connection: 'close' } : {};
      if (sse) res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).end(`event: message\ndata: ${body}\n\n`);
      else res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

const nodeAgent = new HttpAgent({ keepAlive: true, scheduling: 'lifo', timeout: 30_000 });
const undiciAgent = new UndiciAgent({ keepAliveTimeout: 30_000 });
let nextId = 1;

function payload(): string {
  return JSON.stringify({ method: 'tools/list', params: {}, jsonrpc: '2.0', id: nextId++ });
}

function parseAnswer(text: string, sse: boolean): unknown {
  return JSON.parse(sse ? text.slice(text.indexOf('data: ') + 6) : text);
}

async function readAnswer(res: IncomingMessage, sse: boolean): Promise<void> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res) text += chunk as string;
  parseAnswer(text, sse);
}

async function viaNode(url: URL, sse: boolean): Promise<void> {
  const body = payload();
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent: nodeAgent, headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    req.once('response', resolve);
    req.once('error', reject);
    req.end(body);
  });
  await readAnswer(res, sse);
}

async function viaNodeWithoutAgent(url: URL, sse: boolean): Promise<void> {
  const body = payload();
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest({
      hostname: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      createConnection: (o) => createConnection(o as { host: string; port: number }),
      headers: ['accept', 'application/json, text/event-stream', 'content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)), 'Host', url.host, 'Connection', 'close'],
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end(body);
  });
  await readAnswer(res, sse);
}

/** The answer read to the connection's end; the fixture's bodies are chunked or close-delimited. */
function viaBareSocket(url: URL, sse: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = payload();
    const socket = createConnection({ host: url.hostname, port: Number(url.port), noDelay: true });
    socket.write(`POST ${url.pathname} HTTP/1.1\r\naccept: application/json, text/event-stream\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n${body}`);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('end', () => {
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf('\r\n\r\n');
      const head = all.toString('latin1', 0, headEnd).toLowerCase();
      let text = '';
      if (head.includes('\r\ntransfer-encoding: chunked')) {
        for (let at = headEnd + 4; ; ) {
          const lineEnd = all.indexOf('\r\n', at);
          const size = parseInt(all.toString('latin1', at, lineEnd), 16);
          if (!size) break;
          text += all.toString('utf8', lineEnd + 2, lineEnd + 2 + size);
          at = lineEnd + 4 + size;
        }
      } else text = all.toString('utf8', headEnd + 4);
      parseAnswer(text, sse);
      resolve();
    });
  });
}

async function viaUndici(url: URL, sse: boolean): Promise<void> {
  const res = await undiciRequest(url, { method: 'POST', dispatcher: undiciAgent, headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' }, body: payload() });
  parseAnswer(await res.body.text(), sse);
}

async function batch(fn: () => Promise<void>, n: number, concurrency: number): Promise<{ cpuUs: number; ms: number }> {
  let left = n;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await fn();
    }),
  );
  const c = process.cpuUsage(c0);
  return { cpuUs: c.user + c.system, ms: performance.now() - t0 };
}

async function main(): Promise<void> {
  const requests = Number(arg('requests', '2000'));
  const rounds = Number(arg('rounds', '5'));
  const concurrency = Number(arg('concurrency', '20'));
  const fresh = process.argv.includes('--fresh');
  console.log(`## Client CPU per Streamable HTTP request — ${machine()}`);
  console.log(`${requests} POSTs a round, ${concurrency} at a time, ${rounds} rounds interleaved; ${fresh ? 'a new connection per request (server closes)' : 'kept connections'}`);
  const results = new Map<string, number[]>();
  for (const sse of [false, true]) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', sse ? 'sse' : 'json', ...(fresh ? ['--fresh'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const url = new URL(`http://127.0.0.1:${line.trim()}/mcp`);
    const variants: Array<[string, () => Promise<void>]> = [
      [`node:http, ${sse ? 'event stream' : 'JSON'}`, () => viaNode(url, sse)],
      [`undici request(), ${sse ? 'event stream' : 'JSON'}`, () => viaUndici(url, sse)],
    ];
    if (fresh) {
      variants.push([`node:http without an agent, ${sse ? 'event stream' : 'JSON'}`, () => viaNodeWithoutAgent(url, sse)]);
      variants.push([`bare net.Socket, parsed by hand, ${sse ? 'event stream' : 'JSON'}`, () => viaBareSocket(url, sse)]);
    }
    for (const [, fn] of variants) await batch(fn, 500, concurrency); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const [name, fn] of r % 2 ? [...variants].reverse() : variants) {
        const { cpuUs } = await batch(fn, requests, concurrency);
        results.set(name, [...(results.get(name) ?? []), cpuUs / requests]);
      }
    }
    child.stdin!.end();
    await once(child, 'exit');
  }
  console.log('\n| client | CPU µs per request, median of rounds | min | max |\n|---|---:|---:|---:|');
  for (const [name, v] of results) console.log(`| ${name} | ${quantile(v, 0.5).toFixed(0)} | ${Math.min(...v).toFixed(0)} | ${Math.max(...v).toFixed(0)} |`);
  console.log(`load average at the end: ${load()}`);
  await undiciAgent.close();
  nodeAgent.destroy();
}

if (process.argv.includes('--serve')) serve(process.argv[process.argv.indexOf('--serve') + 1] === 'sse', process.argv.includes('--fresh'));
else await main();
