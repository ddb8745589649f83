// Loaded with `node --import dist/bench/use-sdk-transport.js dist/src/cli/main.js run …` (agent-fleet
// --transport sdk): the agent then checks Streamable HTTP servers over SDK v2's transport instead of
// its own. The transport table is one module instance per process, shared with the CLI imported after.
import { TRANSPORTS } from '../src/probe/transports.js';
import { sdkStreamableTransport } from './sdk-streamable.js';

TRANSPORTS.streamable_http = sdkStreamableTransport;
