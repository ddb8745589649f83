// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package, and
// inclusive time of the functions whose name matches a pattern. For diagnosing the agent benchmarks.
//
//   node dist/bench/cpuprofile-summary.js FILE.cpuprofile [--top 30] [--from S] [--to S] [--inclusive REGEX]
//
// --from/--to keep only samples between those seconds after the profile started (e.g. the steady
// state, without start-up).
import { readFileSync } from 'node:fs';
import { arg } from './agent-harness.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** node_modules package (scoped included), node: internals, or our own dist file. */
export function packageOf(url: string): string {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const dist = url.indexOf('/dist/');
  return dist !== -1 ? url.slice(dist + 6).replace(/\.js$/, '') : url;
}

function label(f: CallFrame): string {
  const file = f.url ? f.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, '') : '';
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
}

export function summarise(profile: Profile, opts: { top: number; fromS?: number; toS?: number; inclusive?: RegExp }): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let totalUs = 0;
  const from = opts.fromS === undefined ? -Infinity : profile.startTime + opts.fromS * 1e6;
  const to = opts.toS === undefined ? Infinity : profile.startTime + opts.toS * 1e6;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    // A sample's time is the delta to the next one; the delta before it is close enough at 1 kHz.
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt);
    totalUs += dt;
  }
  const idle = new Set(['(idle)', '(program)', '(garbage collector)']);
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const f = node.callFrame;
    const name = idle.has(f.functionName) ? f.functionName : label(f);
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const pkg = idle.has(f.functionName) ? f.functionName : packageOf(f.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    if (f.functionName !== '(idle)') busyUs += us;
    if (opts.inclusive) {
      // Charge this sample once to every distinct matching frame on its stack.
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const cf = byId.get(cur)!.callFrame;
        const l = label(cf);
        if (!seen.has(l) && opts.inclusive.test(l)) {
          seen.add(l);
          inclusive.set(l, (inclusive.get(l) ?? 0) + us);
        }
      }
    }
  }
  const pct = (us: number): string => `${((100 * us) / busyUs).toFixed(1).padStart(5)} %`;
  const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const out: string[] = [];
  out.push(`profile span ${(totalUs / 1e6).toFixed(1)} s, busy (not idle) ${(busyUs / 1e6).toFixed(2)} s = ${((100 * busyUs) / totalUs).toFixed(1)} % of one core; shares below are of busy time`);
  out.push('', 'self time by package:');
  for (const [k, v] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, opts.top)) if (k !== '(idle)') out.push(`${ms(v)} ${pct(v)}  ${k}`);
  out.push('', 'self time by function:');
  for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, opts.top)) if (k !== '(idle)') out.push(`${ms(v)} ${pct(v)}  ${k}`);
  if (opts.inclusive) {
    out.push('', `inclusive time of frames matching ${opts.inclusive}:`);
    for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, opts.top)) out.push(`${ms(v)} ${pct(v)}  ${k}`);
  }
  return out;
}

const file = process.argv[2];
if (file && !file.startsWith('--')) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const fromS = arg('from', '');
  const toS = arg('to', '');
  const inc = arg('inclusive', '');
  console.log(
    summarise(profile, {
      top: Number(arg('top', '30')),
      fromS: fromS ? Number(fromS) : undefined,
      toS: toS ? Number(toS) : undefined,
      inclusive: inc ? new RegExp(inc) : undefined,
    }).join('\n'),
  );
} else {
  console.error('usage: node dist/bench/cpuprofile-summary.js FILE.cpuprofile [--top N] [--from S] [--to S] [--inclusive REGEX]');
  process.exitCode = 2;
}
