// Imported first by main.ts, so that it runs before any other module is loaded: loading the CLI's
// dependencies alone would otherwise grow V8's young generation to its 32 MiB maximum, and V8 does
// not give that back. For `run`, the optimising compiler is also held back until the configuration
// says whether the agent has CPU-bound work: compilations made while the CLI loads would leave their
// memory behind either way. `run` then applies the configured profile.
import { applyMemoryProfile } from '../agent/runtime.js';

applyMemoryProfile('compact', { hotPath: process.argv[2] === 'run' ? undefined : true });
