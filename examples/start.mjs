#!/usr/bin/env node
// `npm start`: runs mcpwatch on the bundled example. Starts the example HTTP server, then the
// mcpwatch command given as arguments (default: `run`), and stops the example server afterwards.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const port = process.env.EXAMPLE_PORT ?? '39100';
const example = spawn(process.execPath, [join(root, 'examples/servers/notes-http.mjs'), port], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve, reject) => {
  example.stdout.once('data', resolve);
  example.once('exit', (code) => reject(new Error(`example server exited with code ${code} (is port ${port} in use? set EXAMPLE_PORT)`)));
});
example.stdout.pipe(process.stderr);

const args = process.argv.slice(2);
const command = args.length ? args : ['run'];
const mcpwatch = spawn(process.execPath, [join(root, 'dist/src/cli/main.js'), ...command, '-c', join(root, 'examples/mcpwatch.yaml')], { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => mcpwatch.kill(sig));
mcpwatch.on('exit', (code, signal) => {
  example.kill('SIGTERM');
  process.exitCode = code ?? (signal ? 0 : 1);
});
