// agent/ owns the long-running `mcpwatch run`: it wires config, probes, pipeline, store and exporters
// together, serves /healthz and /readyz, and handles reload and shutdown. It holds no probing,
// classification or metric-naming logic of its own: those live in probe/, pipeline/ and export/.
import { createServer, type Server } from 'node:http';
import { basename } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { parseListen, resolveServer, type Config, type ServerConfig } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import type { CheckOutcome, ServerSession } from '../probe/session.js';
import { Scheduler } from '../probe/scheduler.js';
import type { ToolInfo } from '../probe/prober.js';
import { ServerStateMachine, type EventDraft } from '../pipeline/state-machine.js';
import { diffTools, formatDiff, snapshotHash, type DriftDiff } from '../pipeline/drift.js';
import type { AlertEvent } from '../pipeline/events.js';
import { StateStore } from '../store/state.js';
import { listen, Telemetry } from '../export/telemetry.js';
import { AVAILABILITY_WINDOWS, Recorder, type AvailabilityWindowName } from '../export/recorder.js';
import { AlertDispatcher, createNotifier, type LineSink } from '../export/notify.js';
import type { OtlpReceiver, ReceiverAddresses } from '../otlp/receiver.js';
import type { OtlpForwarder } from '../export/forwarder.js';
import { scoreFleet } from '../pipeline/scorecard.js';
import type { ServerResolver } from '../otlp/recognise.js';

/** Fast re-check while a server is unsettled: `down` after N failures takes seconds, not N intervals. */
const RECHECK_MS = 5000;
const AVAILABILITY_REFRESH_MS = 30_000;
const PRUNE_EVERY_MS = 3_600_000;
/** The scorecard reads 7 days of state: every few minutes is fresh enough. */
const SCORE_EVERY_MS = 300_000;

export interface AgentOptions {
  log?: Logger;
  now?: () => number;
  /** Where the stdout notifier writes (tests capture it). */
  stdout?: LineSink;
  /** Told of every trace request whose spans the receiver decoded (ReceiverDeps.onTraffic). */
  onReceiverTraffic?: () => void;
}

export interface AgentAddresses {
  health: AddressInfo;
  metrics: AddressInfo | undefined;
  otlp: ReceiverAddresses;
}

type ProbingModule = typeof import('../probe/session.js');
let probing: ProbingModule | undefined;

/**
 * The synthetic probes (the MCP SDK's client and its schemas, about 15 MiB) are loaded once there is
 * a server to probe: an agent that only receives OTLP never carries them.
 */
async function loadProbing(): Promise<ProbingModule> {
  return (probing ??= await import('../probe/session.js'));
}

class Monitor {
  readonly sm: ServerStateMachine;
  readonly session: ServerSession;
  checks = 0;
  /** The name the server gave in initialize, for matching traffic from its own instrumentation. */
  serverInfoName: string | undefined;
  snapshot: { hash: string; tools: ToolInfo[] } | undefined;
  /** The last tool list as listed, to skip hashing when nothing changed. */
  lastRaw: string | undefined;

  constructor(
    public server: ServerConfig,
    config: Config,
    onSignal: (signal: string) => void,
    now: () => number,
  ) {
    this.sm = new ServerStateMachine(policyOf(server, config));
    // addMonitor() runs only after loadProbing() resolved.
    this.session = new probing!.ServerSession(server, { onSignal, maxToolPages: config.monitoring.max_tool_pages, now });
  }
}

interface ResolverIndex {
  byAddress: Map<string, string>;
  byHost: Map<string, string>;
  byService: Map<string, string>;
}

function nextDelay(m: Monitor): number {
  const s = m.server;
  let delay = m.sm.unsettled ? Math.min(s.interval, RECHECK_MS) : s.interval;
  // A watched SSE stream must be looked at within stale_after, or a silent one would never be called stale.
  if (s.transport === 'sse' && !s.fresh_connection && s.stale_after !== undefined) delay = Math.min(delay, s.stale_after * 1.25);
  return delay;
}

function policyOf(server: ServerConfig, config: Config) {
  return {
    failuresBeforeDown: server.consecutive_failures_before_down ?? config.monitoring.consecutive_failures_before_down,
    thresholds: server.thresholds,
    latencyWindow: config.monitoring.latency_window,
  };
}

/** What identifies a server's connection: a change here needs a new session, anything else does not. */
function connectionKey(s: ServerConfig): string {
  return JSON.stringify([s.transport, s.command, s.args, s.env, s.cwd, s.url, s.headers, s.tls, s.fresh_connection]);
}

export class Agent {
  readonly log: Logger;
  private config: Config;
  private readonly now: () => number;
  private readonly monitors = new Map<string, Monitor>();
  private readonly scheduler: Scheduler;
  private readonly store: StateStore;
  private telemetry: Telemetry | undefined;
  /** Set by start(): the OTLP pipelines it feeds are loaded only when configured. */
  private recorder!: Recorder;
  private dispatcher: AlertDispatcher;
  private receiver: OtlpReceiver | undefined;
  /** Lookup tables of resolver(); undefined when the servers changed since they were built. */
  private resolverIndex: ResolverIndex | undefined;
  private forwarder: OtlpForwarder | undefined;
  private healthServer: Server | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private readyOnce = false;

  /** Opens the state (a locked, corrupt or unwritable file throws a StateError here, at start-up). */
  constructor(
    private loaded: LoadedConfig,
    private readonly opts: AgentOptions = {},
  ) {
    this.config = loaded.config;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? pino({ level: this.config.log.level, base: { service: 'mcpwatch' } }, pino.destination(2));
    this.store = new StateStore(this.config.state.path, { writer: true });
    this.scheduler = new Scheduler(this.config.monitoring.concurrency);
    this.dispatcher = this.makeDispatcher(this.config);
  }

  get ready(): boolean {
    return this.readyOnce;
  }

  async start(): Promise<AgentAddresses> {
    try {
      this.telemetry = await Telemetry.create(this.config);
      this.recorder = new Recorder(this.telemetry.meter, this.telemetry.tracer, this.telemetry.hot, this.telemetry.servers);
      const metrics = await this.telemetry.start();
      const health = await this.startHealth();
      let otlp: ReceiverAddresses = {};
      if (this.config.receivers.otlp) {
        // The passive stream (gRPC, protobuf) is loaded only when it is configured.
        const { OtlpReceiver } = await import('../otlp/receiver.js');
        const backend = this.config.exporters.otlp;
        if (backend) {
          const { OtlpForwarder, queueCapacityBytes } = await import('../export/forwarder.js');
          const forwarder: OtlpForwarder = new OtlpForwarder(backend, {
            hooks: this.recorder.forwarderHooks(queueCapacityBytes(backend.queue_size_mib), () => forwarder.queuedBytes),
            log: this.log,
          });
          forwarder.start();
          this.forwarder = forwarder;
        }
        this.recorder.setToolLimit(this.config.receivers.otlp.max_tools_per_server);
        this.receiver = new OtlpReceiver(this.config.receivers.otlp, {
          recorder: this.recorder,
          resolveServer: this.resolver(),
          log: this.log,
          forward: this.forwarder ? (signal, body, type, parsed) => this.forwarder!.admit(signal, body, type, parsed) : undefined,
          onTraffic: this.opts.onReceiverTraffic,
        });
        otlp = await this.receiver.start();
      }
      if (this.config.servers.length > 0) await loadProbing();
      for (const raw of this.config.servers) this.addMonitor(resolveServer(this.config, raw));
      if (this.monitors.size === 0) this.readyOnce = true;
      this.timers.push(setInterval(() => this.refreshAvailability(), AVAILABILITY_REFRESH_MS));
      this.timers.push(setInterval(() => this.prune(), PRUNE_EVERY_MS));
      this.timers.push(setInterval(() => this.score(), SCORE_EVERY_MS));
      this.prune();
      const at = (a: AddressInfo | undefined): string | undefined => a && `${a.address}:${a.port}`;
      this.log.info({ servers: this.monitors.size, config: this.loaded.file, metrics: at(metrics), health: at(health), otlp_grpc: at(otlp.grpc), otlp_http: at(otlp.http) }, 'mcpwatch agent started');
      return { health, metrics, otlp };
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Applies a new configuration (SIGHUP). Unchanged servers keep their session and state. */
  async reload(next: LoadedConfig): Promise<void> {
    const config = next.config;
    if (config.servers.length > 0) await loadProbing();
    const wanted = new Map(config.servers.map((raw) => [raw.name, resolveServer(config, raw)]));
    const restartOnly = (c: Config): string => JSON.stringify([c.exporters, c.receivers, c.health, c.state, c.runtime]);
    const exportersChanged = restartOnly(config) !== restartOnly(this.config);
    for (const [name, monitor] of this.monitors) {
      const server = wanted.get(name);
      if (!server) {
        this.removeMonitor(name, 'removed from the configuration');
      } else if (connectionKey(server) !== connectionKey(monitor.server)) {
        // Re-added below under the same name: its series and counts carry on.
        this.removeMonitor(name, 'connection settings changed', { replacing: true });
      }
    }
    this.config = config;
    this.loaded = next;
    for (const [name, server] of wanted) {
      const existing = this.monitors.get(name);
      if (existing) {
        existing.server = server;
        this.resolverIndex = undefined;
        existing.session.update(server);
        existing.sm.setPolicy(policyOf(server, config));
        this.recorder.register(server);
      } else {
        this.addMonitor(server);
      }
    }
    const old = this.dispatcher;
    this.dispatcher = this.makeDispatcher(config);
    void old.flush(2000).finally(() => old.close());
    if (exportersChanged) this.log.warn('exporters, receivers, health, state or runtime settings changed: they take effect after a restart');
    this.log.info({ servers: this.monitors.size, config: next.file }, 'configuration reloaded');
  }

  /** Stops probing, ends every session and child process, flushes exporters and alerts. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await this.scheduler.stop();
    // Receivers first: the forwarder refuses what arrives once it drains.
    await this.receiver?.shutdown();
    await this.forwarder?.shutdown(2000);
    await Promise.allSettled([...this.monitors.values()].map((m) => m.session.close()));
    await this.dispatcher.flush(2000).catch(() => {});
    this.dispatcher.close();
    await this.telemetry?.shutdown();
    if (this.healthServer) {
      await new Promise<void>((resolve) => this.healthServer!.close(() => resolve()));
      this.healthServer.closeAllConnections();
    }
    try {
      this.store.close();
    } catch (err) {
      this.log.error({ err, file: this.config.state.path }, 'writing the last probe counts to the state file failed');
    }
    this.log.info('mcpwatch agent stopped');
    this.log.flush();
  }

  /** Current status per server (for tests and /readyz details). */
  statuses(): Record<string, string> {
    return Object.fromEntries([...this.monitors].map(([name, m]) => [name, m.sm.status]));
  }

  sessionPid(name: string): number | undefined {
    return this.monitors.get(name)?.session.pid;
  }

  /**
   * Names traffic after configured servers: by the URL's host:port for client spans, and by the
   * resource's service.name (a server instrumenting itself) against the configured name, the
   * command's base name or the name the server gave in initialize. Called for every span, so it
   * reads maps rebuilt only when the set of servers (or a server's own name) changes.
   */
  private resolver(): ServerResolver {
    return (span) => {
      const index = (this.resolverIndex ??= this.buildResolverIndex());
      const address = span.attrs.get('server.address');
      if (address !== undefined) {
        const port = span.attrs.get('server.port');
        const hit = port === undefined ? index.byHost.get(String(address)) : index.byAddress.get(`${String(address)}:${Number(port)}`);
        if (hit) return hit;
      }
      const service = span.resource.serviceName;
      return service ? index.byService.get(service) : undefined;
    };
  }

  private buildResolverIndex(): ResolverIndex {
    const index: ResolverIndex = { byAddress: new Map(), byHost: new Map(), byService: new Map() };
    const first = (map: Map<string, string>, key: string, name: string): void => {
      if (!map.has(key)) map.set(key, name);
    };
    for (const m of this.monitors.values()) {
      const s = m.server;
      if (s.url) {
        const u = new URL(s.url);
        first(index.byAddress, `${u.hostname}:${Number(u.port || (u.protocol === 'https:' ? 443 : 80))}`, s.name);
        first(index.byHost, u.hostname, s.name);
      }
      first(index.byService, s.name, s.name);
      if (m.serverInfoName) first(index.byService, m.serverInfoName, s.name);
      if (s.command) first(index.byService, basename(s.command).replace(/\.[a-z]+$/, ''), s.name);
    }
    return index;
  }

  private makeDispatcher(config: Config): AlertDispatcher {
    const notifiers = config.alerts.map((cfg) => createNotifier(cfg, { stdout: this.opts.stdout }));
    return new AlertDispatcher(notifiers, {
      metrics: (notifier, outcome) => this.recorder.delivery(notifier, outcome),
      log: (level, msg, fields) => this.log[level](fields, msg),
    });
  }

  private addMonitor(server: ServerConfig): void {
    const name = server.name;
    const monitor = new Monitor(server, this.config, (signal) => {
      this.log.debug({ server: name, signal }, 'checking now');
      this.scheduler.trigger(name);
    }, this.now);
    const last = this.store.lastSnapshot(name);
    if (last) monitor.snapshot = { hash: last.hash, tools: last.tools as ToolInfo[] };
    this.monitors.set(name, monitor);
    this.resolverIndex = undefined;
    this.recorder.register(server);
    this.scheduler.add(
      name,
      {
        run: () => this.check(monitor),
        nextDelay: () => nextDelay(monitor),
      },
      Math.min(server.interval, RECHECK_MS),
    );
  }

  private removeMonitor(name: string, why: string, opts: { replacing?: boolean } = {}): void {
    const monitor = this.monitors.get(name);
    if (!monitor) return;
    this.scheduler.remove(name);
    this.monitors.delete(name);
    this.resolverIndex = undefined;
    // The new monitor starts from `unknown`, as its state machine does; counters are kept.
    if (opts.replacing) this.recorder.setStatus(name, 'unknown');
    else this.recorder.unregister(name);
    void monitor.session.close();
    this.log.info({ server: name }, `stopped monitoring: ${why}`);
  }

  private async check(monitor: Monitor): Promise<void> {
    let out: CheckOutcome;
    try {
      out = await monitor.session.check();
    } catch (err) {
      // A bug, not a target failure: log it and keep the agent probing.
      this.log.error({ server: monitor.server.name, err }, 'check crashed');
      return;
    }
    if (this.stopping || this.monitors.get(monitor.server.name) !== monitor) return;
    try {
      this.record(monitor, out);
    } catch (err) {
      this.log.error({ server: monitor.server.name, err }, 'recording a check failed');
    }
  }

  private record(monitor: Monitor, out: CheckOutcome): void {
    const server = monitor.server;
    const at = this.now();
    const answered = !out.error || out.partial;
    if (out.serverInfo && out.serverInfo.name !== monitor.serverInfoName) {
      monitor.serverInfoName = out.serverInfo.name;
      this.resolverIndex = undefined;
    }
    this.recorder.probe(server, out);
    if (out.sessionExpired) this.recorder.sessionExpired(server);
    this.store.recordProbe(server.name, at, answered && out.staleMs === undefined, out.latencyMs);
    const events: EventDraft[] = [];
    if (out.tools && !out.error) events.push(...this.drift(monitor, out.tools, at));

    const step = monitor.sm.apply({
      at,
      ok: answered && out.staleMs === undefined,
      latencyMs: out.latencyMs,
      error: out.error,
      definitive: out.definitive,
      partial: out.partial,
      staleMs: out.staleMs,
      sessionExpired: out.sessionExpired,
    });
    if (step.transition) {
      const t = step.transition;
      this.store.transition(server.name, at, t.to === 'up' ? null : { state: t.to, cause: t.cause, errorType: t.errorType });
      this.recorder.setStatus(server.name, t.to);
      if (t.to === 'down' || t.to === 'degraded' || t.to === 'stale') this.recorder.incident(server, t.to);
      this.log.info({ server: server.name, from: t.from, to: t.to, cause: t.cause }, 'state changed');
    }
    this.log.debug({ server: server.name, status: monitor.sm.status, latency_ms: out.latencyMs, error: out.error, tools: out.tools?.length }, 'checked');
    for (const draft of [...step.events, ...events]) this.emit(server, draft, at);

    monitor.checks++;
    if (!this.readyOnce && [...this.monitors.values()].every((m) => m.checks > 0)) {
      this.readyOnce = true;
      this.refreshAvailability();
      this.score();
      this.log.info('first probe round done: ready');
    }
  }

  /** Compares the tool list with the last snapshot (kept across restarts) and stores the new one. */
  private drift(monitor: Monitor, tools: ToolInfo[], at: number): EventDraft[] {
    // Most checks list exactly what the last one did: the raw text settles that without the
    // canonical form and hash.
    const raw = JSON.stringify(tools);
    if (raw === monitor.lastRaw) return [];
    monitor.lastRaw = raw;
    const hash = snapshotHash(tools);
    const prev = monitor.snapshot;
    if (prev?.hash === hash) return [];
    monitor.snapshot = { hash, tools };
    if (!prev) {
      this.store.saveSnapshot({ server: monitor.server.name, hash, tools, takenAt: at });
      return [];
    }
    const diff = diffTools(prev.tools, tools);
    this.store.saveSnapshot({ server: monitor.server.name, hash, tools, takenAt: at }, diff.severity ? { severity: diff.severity, diff: projection(diff) } : undefined);
    if (!diff.severity) return [];
    this.recorder.schemaChange(monitor.server, diff.counts);
    const status = monitor.sm.status;
    return [
      {
        event: 'schema_drift',
        severity: diff.severity === 'breaking' ? 'critical' : diff.severity === 'warning' ? 'warning' : 'info',
        message: `tool schemas changed: ${diff.counts.breaking} breaking, ${diff.counts.compatible} compatible, ${diff.counts.warning} warning`,
        details: { diff: projection(diff), changes: diff.changes, counts: diff.counts, summary: formatDiff(diff) },
        previous_state: status,
        current_state: status,
        incident_started_at: null,
        downtime_seconds: null,
      },
    ];
  }

  private emit(server: ServerConfig, d: EventDraft, at: number): void {
    const event: AlertEvent = {
      server: server.name,
      transport: server.transport,
      tags: server.tags,
      event: d.event,
      severity: d.severity,
      message: d.message,
      details: d.details,
      previous_state: d.previous_state,
      current_state: d.current_state,
      timestamp: new Date(at).toISOString(),
      incident_started_at: d.incident_started_at === null ? null : new Date(d.incident_started_at).toISOString(),
      downtime_seconds: d.downtime_seconds,
    };
    this.log.info({ server: server.name, event: d.event, severity: d.severity, detail: d.message }, 'alert');
    this.dispatcher.dispatch(event);
  }

  /** Also writes the probe counts held in memory (StateStore.recordProbe), every 30 s. */
  private refreshAvailability(): void {
    const now = this.now();
    try {
      this.store.flush();
      for (const name of this.monitors.keys()) {
        for (const [window, ms] of Object.entries(AVAILABILITY_WINDOWS) as Array<[AvailabilityWindowName, number]>) {
          this.recorder.setAvailability(name, window, this.store.availability(name, ms, now).ratio);
        }
      }
    } catch (err) {
      // Runs from a timer: a state file that cannot be written must not end the agent.
      this.log.warn(
        { err, file: this.config.state.path, minutes_given_up: this.store.droppedMinutes },
        'writing probe counts to the state file failed; the last hour of them is kept in memory and written at the next attempt',
      );
    }
  }

  private score(): void {
    try {
      for (const r of scoreFleet(this.config, this.loaded.text, this.store, this.now())) {
        const dims: Record<string, number> = { overall: r.points };
        for (const [d, v] of Object.entries(r.dimensions)) if (v.points !== null) dims[d] = v.points;
        this.recorder.setScore(r.server, dims);
      }
    } catch (err) {
      this.log.warn({ err }, 'scoring the fleet failed');
    }
  }

  private prune(): void {
    try {
      this.store.prune(this.config.state.retention, this.now());
    } catch (err) {
      this.log.warn({ err }, 'pruning the state failed');
    }
  }

  private async startHealth(): Promise<AddressInfo> {
    const { host, port } = parseListen(this.config.health.endpoint)!;
    this.healthServer = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      } else if (path === '/readyz') {
        const ready = this.readyOnce && !this.stopping;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ready ? 'ready' : 'starting', servers: this.statuses() }));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('mcpwatch health serves /healthz and /readyz\n');
      }
    });
    await listen(this.healthServer, host, port, 'health.endpoint');
    return this.healthServer.address() as AddressInfo;
  }
}

function projection(diff: DriftDiff): Pick<DriftDiff, 'tools_added' | 'tools_removed' | 'tools_modified'> {
  return { tools_added: diff.tools_added, tools_removed: diff.tools_removed, tools_modified: diff.tools_modified };
}
