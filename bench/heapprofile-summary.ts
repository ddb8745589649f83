// Summarises a V8 .heapprofile (bench/survivor-profile.ts, or DevTools' allocation sampling): the
// sampled bytes by allocating function, largest first. For diagnosing the agent benchmarks.
//
//   node dist/bench/heapprofile-summary.js FILE.heapprofile [--top 30]
import { readFileSync } from 'node:fs';
import { arg } from './agent-harness.js';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

const file = process.argv[2];
if (!file) {
  console.error('usage: heapprofile-summary FILE.heapprofile [--top 30]');
  process.exit(2);
}
const top = Number(arg('top', '30'));
const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
const bytes = new Map<string, number>();
let total = 0;
const walk = (node: HeapNode): void => {
  if (node.selfSize) {
    const cf = node.callFrame;
    const where = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`;
    bytes.set(where, (bytes.get(where) ?? 0) + node.selfSize);
    total += node.selfSize;
  }
  for (const child of node.children) walk(child);
};
walk(profile.head);
console.log(`sampled ${(total / 2 ** 20).toFixed(1)} MiB`);
for (const [where, n] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(n / 1024).toFixed(0).padStart(8)} KiB  ${where}`);
