// Imported first by main.ts, so that it runs before any other module is loaded: loading the CLI's
// dependencies alone would otherwise grow V8's young generation to its 32 MiB maximum, and V8 does
// not give that back. `run` switches to the configured profile once the configuration is read.
import { applyMemoryProfile } from '../agent/runtime.js';

applyMemoryProfile('compact');
