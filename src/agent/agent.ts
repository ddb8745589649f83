// agent/ owns the long-running `mcpwatch run`: it wires config, probes, pipeline, store and exporters
// together, serves /healthz, /readyz and its live view (/api/v1/servers), and handles reload and
// shutdown. It decides nothing itself: a check's outcome goes to pipeline/ (assess), and the verdict
// is applied to the store, the recorder and the notifiers in one place (apply). Probing lives in
// probe/, metric names in export/.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createLogger } from './log.js';
import { parseListen, resolveServer, type Config, type ServerConfig } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import type { ProcessGroups, ServerSession } from '../probe/session.js';
import { Scheduler } from '../probe/scheduler.js';
import type { ToolInfo } from '../probe/prober.js';
import { assess, assessTraffic, ServerTrack, type Assessment, type CheckOutcome, type EraVerdict, type TrackPolicy } from '../pipeline/assess.js';
import type { EventDraft, MachineMemory, StepResult } from '../pipeline/state-machine.js';
import type { ErrorRateWindow } from '../pipeline/traffic-errors.js';
import { serverResolver, TrafficRouter } from '../pipeline/traffic.js';
import type { AlertEvent } from '../pipeline/events.js';
import { StateStore } from '../store/state.js';
import { observationHoldMs } from '../pipeline/uptime.js';
import { listen, Telemetry } from '../export/telemetry.js';
import { AVAILABILITY_WINDOWS, Recorder, type AvailabilityWindowName, type TrafficCells } from '../export/recorder.js';
import { AlertDispatcher, createNotifier, type LineSink, type Notifier, type Told } from '../export/notify.js';
import type { OtlpReceiver, ReceiverAddresses } from '../otlp/receiver.js';
import type { OtlpForwarder } from '../export/forwarder.js';
import { rawServers, scoreOne, type RawServer } from '../pipeline/scorecard.js';
import type { ServerResolver } from '../otlp/recognise.js';
import type { ServerIdentity } from '../pipeline/traffic.js';
import { ownServers } from '../pipeline/shard.js';
import { affectedAgents, callerOf, CallerWindow } from '../pipeline/callers.js';
import { BLAST_RADIUS_EVENTS, STATE_EVENTS, type AffectedAgents } from '../pipeline/events.js';
import { catchUpDraft, isBad, planResume, type CatchUpWhen } from '../pipeline/resume.js';
import type { DriftProjection } from '../pipeline/assess.js';
import { serverJson, summarize, type AgentServerJson, type AgentView, type ProbeSummary } from '../pipeline/server-view.js';
import { probeVerdict } from '../pipeline/status.js';
import { redactDeep } from '../pipeline/redact.js';
import type { AgentMetrics } from '../export/agent-metrics.js';
import type { SpanOrigin } from '../otlp/pairing.js';
import type { Observation } from '../otlp/recognise.js';

/** Fast re-check while a server is unsettled: `down` after N failures takes seconds, not N intervals. */
const RECHECK_MS = 5000;
const AVAILABILITY_REFRESH_MS = 30_000;
const PRUNE_EVERY_MS = 3_600_000;
/** The scorecard reads 7 days of state: every few minutes is fresh enough. */
const SCORE_EVERY_MS = 300_000;
/** Servers graded per turn of the event loop. */
const SCORE_SLICE = 50;
/** How often each server's traffic error rate is judged (a few table sums per server). */
const TRAFFIC_JUDGE_MS = 1000;
/**
 * How long stop() waits for sessions to end (DELETE, process groups), in-flight checks and the last
 * exports, together. With the state written before and the health server and store closed after, it
 * keeps SIGTERM within run's 5 s budget (cli/run.ts) at thousands of servers on a busy machine.
 */
const STOP_WAIT_MS = 3000;
/** Sessions stop() starts closing per turn of the event loop (see endSessions). */
const STOP_BATCH = 100;

/** A traffic route's metric cells, and for a configured server's tool calls its error-rate window. */
type TrafficRoute = TrafficCells & { window: ErrorRateWindow | undefined };

export interface AgentOptions {
  log?: Logger;
  now?: () => number;
  /** Where the stdout notifier writes (tests capture it). */
  stdout?: LineSink;
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
  readonly track: ServerTrack;
  readonly session: ServerSession;
  checks = 0;
  /** Configured checks refused for side effects, each logged once (until it runs or changes). */
  readonly refused = new Set<string>();
  /** The last check as GET /api/v1/servers shows it, and its time. */
  last: ProbeSummary | undefined;
  lastAt: number | undefined;
  /** Availability by window as refreshAvailability() last worked it out: the view reads it, not the store. */
  availability: Partial<Record<AvailabilityWindowName, number | null>> = {};
  /** When the last run checked the server, for a state taken up from the file and not checked since. */
  seenAt: number | undefined;
  /**
   * Taken up from the state file at start: what each notifier was told of the server then, for the
   * catch-up after its first check (none once an event of the server has gone out since).
   */
  resumed: { told: ReadonlyMap<string, Told>; legacy: boolean } | undefined;
  /**
   * The last run's incident, too old to go on with (state.resume_within): it ends at this time once
   * the server's status is known again, not at start, so that a run stopped before that still
   * leaves the next one the incident to end (and its `recovered` to send).
   */
  expiredAt: number | undefined;

  constructor(
    public server: ServerConfig,
    config: Config,
    onSignal: (signal: string) => void,
    now: () => number,
    snapshot: { hash: string; tools: ToolInfo[] } | undefined,
    prior: EraVerdict | undefined,
    processGroups: ProcessGroups,
    track?: ServerTrack,
  ) {
    this.track = track ?? new ServerTrack(policyOf(server, config), snapshot);
    // addMonitor() runs only after loadProbing() resolved.
    this.session = new probing!.ServerSession(server, { onSignal, maxToolPages: config.monitoring.max_tool_pages, now, prior, processGroups });
  }
}

/**
 * The outcome without the runs of checks `server` no longer configures: a check in flight at a reload
 * ran the checks configured when it began, and a run of one the reload removed would fail the server
 * again after the reload's `recovered` for it, and, never run again, hold it failing for good.
 */
function configuredRuns(out: CheckOutcome, server: ServerConfig): CheckOutcome {
  if (!out.checks?.length) return out;
  const names = new Set((server.checks ?? []).map((c) => c.name));
  return out.checks.every((c) => names.has(c.name)) ? out : { ...out, checks: out.checks.filter((c) => names.has(c.name)) };
}

/** `told` once an event leaving the server `state` has gone to the notifiers of `keys` but `except`. */
function toldNow(told: ReadonlyMap<string, Told>, keys: readonly string[], except: ReadonlySet<string>, state: Told['state']): Map<string, Told> {
  const next = new Map(told);
  for (const key of keys) if (!except.has(key)) next.set(key, { state, held: told.get(key)?.held });
  return next;
}

function nextDelay(m: Monitor): number {
  const delay = m.track.sm.unsettled ? Math.min(m.server.interval, RECHECK_MS) : m.server.interval;
  // A configured check due before the server's next probe brings that probe forward.
  return Math.min(delay, m.session.checkWithin() ?? Infinity, m.session.checksDueIn() ?? Infinity);
}

/** The configuration as this agent acts on it: with `sharding`, only the servers of its shard. */
function ownConfig(config: Config): Config {
  return config.sharding ? { ...config, servers: ownServers(config.servers, config.sharding) } : config;
}

/** Configured servers that other shards probe, by name: traffic to them is still named after them. */
function otherShards(all: Config, own: Config): Map<string, ServerIdentity> {
  const mine = new Set(own.servers.map((s) => s.name));
  return new Map(all.servers.filter((s) => !mine.has(s.name)).map((s) => [s.name, { name: s.name, url: s.url, command: s.command, hints: s.traffic, tools: null }]));
}

function policyOf(server: ServerConfig, config: Config): TrackPolicy {
  const traffic = server.traffic ?? config.monitoring.traffic;
  return {
    failuresBeforeDown: server.consecutive_failures_before_down ?? config.monitoring.consecutive_failures_before_down,
    recoveryHoldMs: server.recovery_hold ?? config.monitoring.recovery_hold,
    thresholds: server.thresholds,
    latencyWindow: config.monitoring.latency_window,
    checks: (server.checks ?? []).map((c) => c.name),
    traffic: { errorRate: traffic.error_rate, windowMs: traffic.window, minCalls: traffic.min_calls },
  };
}

/** What identifies a server's connection: a change here needs a new session, anything else does not. */
function connectionKey(s: ServerConfig): string {
  return JSON.stringify([s.transport, s.command, s.args, s.env, s.cwd, s.url, s.headers, s.tls, s.fresh_connection, s.protocol, s.auth]);
}

export class Agent {
  readonly log: Logger;
  private config: Config;
  private readonly now: () => number;
  private readonly monitors = new Map<string, Monitor>();
  /** Servers of the configuration that other shards probe (empty without sharding). */
  private others: Map<string, ServerIdentity>;
  private readonly scheduler: Scheduler;
  private readonly store: StateStore;
  private telemetry: Telemetry | undefined;
  /** Set by start(): the OTLP pipelines it feeds are loaded only when configured. */
  private recorder!: Recorder;
  /** One for the agent's life: a reload reconfigures it, so a kept notifier's queue is not cut (reload). */
  private readonly dispatcher: AlertDispatcher;
  private receiver: OtlpReceiver | undefined;
  /** Names traffic after configured servers; undefined when the servers changed since it was built. */
  private resolveServer: ServerResolver | undefined;
  /** Labels recognised traffic and remembers its metric cells (set by start() with the recorder). */
  private traffic!: TrafficRouter<TrafficRoute>;
  private forwarder: OtlpForwarder | undefined;
  /** Which agents call each configured server (blast radius), and their series. */
  private callers!: CallerWindow;
  private agentMetrics!: AgentMetrics;
  private healthServer: Server | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private readyOnce = false;
  /**
   * Monitored servers not checked yet: the first round is done when it is empty. Asking every
   * monitor after every check made the first round quadratic in the fleet's size.
   */
  private readonly unchecked = new Set<string>();
  private scoring = false;
  private raws: { text: string; byName: Map<string, RawServer | null> } | undefined;
  /** The stdio servers this agent runs, killed if still running at the end of its stop. */
  private processGroups: ProcessGroups | undefined;
  /**
   * Servers a reload removed whose alerts the notifiers may still hold (the Alertmanager's, re-posted
   * as firing) until each has sent their last events and resolved them (AlertDispatcher.forget). By
   * removal: one that ends does not take a later removal of the same name with it.
   */
  private readonly removed = new Map<string, object>();
  /** False once stop() has closed the state file: a delivery that lands later is not recorded. */
  private storeOpen = true;

  /** Opens the state (a locked, corrupt or unwritable file throws a StateError here, at start-up). */
  constructor(
    private loaded: LoadedConfig,
    private readonly opts: AgentOptions = {},
  ) {
    this.config = ownConfig(loaded.config);
    this.others = otherShards(loaded.config, this.config);
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? createLogger(this.config.log.level);
    this.store = new StateStore(this.config.state.path, { writer: true, warn: (fields, msg) => this.log.warn(fields, msg) });
    this.scheduler = new Scheduler(this.config.monitoring.concurrency);
    this.dispatcher = new AlertDispatcher(this.makeNotifiers(this.config), {
      metrics: (notifier, outcome) => this.recorder.delivery(notifier, outcome),
      log: (level, msg, fields) => this.log[level](fields, msg),
      delivered: (key, event, held) => this.delivered(key, event, held),
    });
  }

  /** The probes, with the log that says which token endpoint a server's metadata led to. */
  private async loadProbing(): Promise<void> {
    (await loadProbing()).setAuthLog((fields, msg) => this.log.info(fields, msg));
  }

  get ready(): boolean {
    return this.readyOnce;
  }

  async start(): Promise<AgentAddresses> {
    try {
      this.telemetry = await Telemetry.create(this.config, this.log);
      const recorder = new Recorder(this.telemetry.meter, this.telemetry.tracer, this.telemetry.hot, this.telemetry.servers);
      this.recorder = recorder;
      this.traffic = new TrafficRouter(
        (name) => this.monitors.has(name) || this.others.has(name),
        (obs, labels) => ({
          ...recorder.trafficCells(obs, labels),
          // Routes are forgotten whenever the servers change (serversChanged), so a window held here is current.
          window: obs.kind === 'tool_call' && !obs.ambiguous ? this.monitors.get(labels.server)?.track.trafficWindow : undefined,
        }),
        this.config.receivers.otlp?.max_tools_per_server,
      );
      const blast = this.config.blast_radius;
      this.callers = new CallerWindow({ windowMs: blast.window, maxAgents: blast.max_agents_per_server });
      this.callers.load(this.store.callersSince(this.now() - blast.window), this.now());
      this.agentMetrics = this.telemetry.agents;
      this.agentMetrics.distinct = () => [...this.monitors.keys()].map((name) => [name, this.callers.distinct(name, this.now())]);
      const metrics = await this.telemetry.start((err) => this.log.error({ err }, 'serving a /metrics scrape failed; the scraper got a cut page'));
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
        this.receiver = new OtlpReceiver(this.config.receivers.otlp, {
          recorder,
          resolveServer: (span, tool, evidence) => (this.resolveServer ??= serverResolver(this.identities()))(span, tool, evidence),
          traffic: (obs, span) => this.onTraffic(obs, span),
          log: this.log,
          forward: this.forwarder ? (signal, body, type, parsed) => this.forwarder!.admit(signal, body, type, parsed) : undefined,
        });
        otlp = await this.receiver.start();
      }
      if (this.config.servers.length > 0) await this.loadProbing();
      for (const raw of this.config.servers) this.addMonitor(resolveServer(this.config, raw));
      try {
        this.resumeStates();
      } catch (err) {
        // The file opened and was writable a moment ago: whatever failed, probing goes on without it.
        this.log.error({ err, file: this.config.state.path }, 'going on from the state file failed: servers not taken up yet start anew, and their open incidents may be alerted again');
      }
      if (this.monitors.size === 0) this.readyOnce = true;
      this.timers.push(setInterval(() => this.refreshAvailability(), AVAILABILITY_REFRESH_MS));
      this.timers.push(setInterval(() => this.prune(), PRUNE_EVERY_MS));
      this.timers.push(setInterval(() => void this.score(), SCORE_EVERY_MS));
      // Without a receiver no traffic arrives, and every server keeps the state its probes give.
      if (this.receiver) this.timers.push(setInterval(() => this.judgeTraffic(), TRAFFIC_JUDGE_MS));
      this.prune();
      const at = (a: AddressInfo | undefined): string | undefined => a && `${a.address}:${a.port}`;
      const sharding = this.config.sharding;
      this.log.info({ servers: this.monitors.size, ...(sharding ? { shard: sharding.shard, shards: sharding.shards, replica: sharding.replica, configured_servers: this.loaded.config.servers.length } : {}), config: this.loaded.file, metrics: at(metrics), health: at(health), otlp_grpc: at(otlp.grpc), otlp_http: at(otlp.http) }, 'mcpwatch agent started');
      if (sharding && this.monitors.size === 0 && this.loaded.config.servers.length > 0) {
        // Hashing spreads names evenly only over many servers: with a few, a shard can get none, and
        // an agent that probes nothing would otherwise look healthy.
        this.log.warn({ shard: sharding.shard, shards: sharding.shards, configured_servers: this.loaded.config.servers.length }, 'this shard probes none of the configured servers: their names all hash to other shards; use fewer shards, or more servers per agent');
      }
      return { health, metrics, otlp };
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Applies a new configuration (SIGHUP). Unchanged servers keep their session and state. */
  async reload(next: LoadedConfig): Promise<void> {
    // A reload that meets a stop (a SIGHUP during shutdown, or while the probes load) ends there: it
    // would start monitors, with their sessions and stdio servers, after stop() has ended them.
    if (this.stopping) return;
    // The shard is also the `shard` label of every series, set when the agent started: the servers
    // are kept assigned by it until a restart, or series would carry another shard's label.
    const sharding = this.config.sharding;
    const shardingChanged = JSON.stringify(next.config.sharding) !== JSON.stringify(sharding);
    const config = ownConfig({ ...next.config, sharding });
    if (config.servers.length > 0) await this.loadProbing();
    if (this.stopping) return;
    const wanted = new Map(config.servers.map((raw) => [raw.name, resolveServer(config, raw)]));
    const restartOnly = (c: Config): string => JSON.stringify([c.exporters, c.receivers, c.health, c.state, c.blast_radius]);
    const exportersChanged = restartOnly(config) !== restartOnly(this.config);
    /** The tracks of replaced monitors, by server. */
    const tracks = new Map<string, ServerTrack>();
    const gone: string[] = [];
    for (const [name, monitor] of this.monitors) {
      const server = wanted.get(name);
      if (!server) {
        this.removeMonitor(name, 'removed from the configuration');
        gone.push(name);
      } else if (connectionKey(server) !== connectionKey(monitor.server)) {
        // Re-added below under the same name: its series and counts carry on, and so does its state,
        // so the incident and its alert end (or go on) by what the new connection finds. From
        // `unknown`, a server that answers would never send the `recovered` that resolves them.
        tracks.set(name, monitor.track);
        this.removeMonitor(name, 'connection settings changed', { replacing: true });
      }
    }
    this.config = config;
    this.others = otherShards(next.config, config);
    this.serversChanged();
    this.loaded = next;
    const at = this.now();
    const steps: Array<[Monitor, StepResult]> = [];
    for (const [name, server] of wanted) {
      const existing = this.monitors.get(name);
      if (existing) {
        this.warnUnusable(server, existing.server);
        existing.server = server;
        this.serversChanged();
        existing.session.update(server);
        steps.push([existing, existing.track.setPolicy(policyOf(server, config), at)]);
        this.recorder.register(server);
      } else {
        const track = tracks.get(name);
        const monitor = this.addMonitor(server, track);
        if (track) steps.push([monitor, track.setPolicy(policyOf(server, config), at)]);
      }
    }
    // The notifiers kept go on from what they still have to send, in order, before the reload's events.
    const added = new Set(this.dispatcher.reconfigure(this.makeNotifiers(config)));
    // Through the notifiers now configured (a removed check that failed resolves its alert), but
    // those the reload adds: what it ends began before they were there, and a `recovered` of an
    // incident they never heard of is noise (a page that opens and closes at once, for a webhook
    // that opens incidents). catchUpAdded tells them where each server stands after the reload.
    for (const [monitor, step] of steps) this.applyStep(monitor, step, at, added);
    this.catchUpAdded(added, at);
    this.forgetRemoved(gone);
    if (exportersChanged) this.log.warn('exporters, receivers, health, state or blast_radius settings changed: they take effect after a restart');
    if (shardingChanged) this.log.warn({ running: sharding ?? null }, 'sharding settings changed: they take effect after a restart (the shard is a label on every series)');
    this.maybeReady();
    this.log.info({ servers: this.monitors.size, config: next.file }, 'configuration reloaded');
  }

  /**
   * Resolves the alerts of servers a reload removed, each notifier once it has sent what it held of
   * them (their last events): a resolve ahead of a late `down` would be fired again by it. One added
   * back and alerting since is left to its new monitor's events.
   */
  private forgetRemoved(servers: readonly string[]): void {
    if (servers.length === 0) return;
    const removals = servers.map((name) => [name, this.removed.get(name)] as const);
    void this.dispatcher
      .forget(servers, (name) => this.removed.has(name))
      .then(() => {
        for (const [name, removal] of removals) if (this.removed.get(name) === removal) this.removed.delete(name);
      })
      .catch((err: unknown) => this.log.error({ err }, 'resolving the alerts of removed servers failed'));
  }

  /**
   * Stops probing, writes the state file, then ends every session and child process and flushes
   * exporters and alerts side by side, letting go of what has not finished after STOP_WAIT_MS.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    // Checks in flight end when their sessions close below; queued ones never start.
    const checksDone = this.scheduler.stop();
    // The state first: everything after waits on clients, servers and backends that may not answer
    // in time (a half-sent OTLP upload holds the receiver's close).
    this.writeState();
    let storeClosed = false;
    let late = false;
    const ending = this.endSessions(() => late);
    // Receivers before the forwarder, which refuses what arrives once it drains; the last export
    // after the forwarder's and the notifiers' own counts are final.
    const exports = (async () => {
      if (this.receiver) {
        await this.receiver.shutdown();
        // Uploads the receiver finished (and acknowledged) while it drained named their callers too.
        if (!storeClosed) this.writeCallers();
      }
      await Promise.allSettled([this.forwarder?.shutdown(2000), this.dispatcher.flush(2000)]);
      await this.telemetry?.shutdown();
    })();
    let timer: NodeJS.Timeout | undefined;
    const letGo = new Promise<true>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS, true)));
    late = await Promise.race([Promise.allSettled([checksDone, ending.done, exports]).then(() => false), letGo]);
    clearTimeout(timer);
    if (late) this.log.warn({ sessions_open: ending.open(), wait_ms: STOP_WAIT_MS }, 'shutdown: let go of sessions, checks and exports still under way (servers expire sessions left open)');
    this.dispatcher.close();
    // Whatever stdio server is still running now would outlive the agent.
    const killed = this.processGroups?.killAll() ?? 0;
    if (killed) this.log.warn({ process_groups: killed }, 'shutdown: killed stdio servers still running (a first connection under way, or a close cut short)');
    if (this.healthServer) {
      const closed = new Promise<void>((resolve) => this.healthServer!.close(() => resolve()));
      // A client still connected (a slow scrape of /api/v1/servers) must not hold the stop.
      this.healthServer.closeAllConnections();
      await closed;
    }
    storeClosed = true;
    this.storeOpen = false;
    try {
      this.store.close();
    } catch (err) {
      this.log.error({ err, file: this.config.state.path }, 'closing the state file failed');
    }
    this.log.info('mcpwatch agent stopped');
    this.log.flush();
  }

  /**
   * Closes every session, STOP_BATCH at a time: thousands started in one go (a DELETE each, a socket
   * destroyed each) held the event loop past the stop's own deadline. Once `lettingGo()`, no further
   * HTTP session is started on (the process exit closes its sockets); stdio ones always are, first,
   * since their process groups would outlive the agent.
   */
  private endSessions(lettingGo: () => boolean): { done: Promise<unknown>; open: () => number } {
    const monitors = [...this.monitors.values()].sort((a, b) => Number(b.server.transport === 'stdio') - Number(a.server.transport === 'stdio'));
    let open = monitors.length;
    const done = (async () => {
      const closes: Promise<void>[] = [];
      for (let i = 0; i < monitors.length; i += STOP_BATCH) {
        if (lettingGo() && monitors[i]!.server.transport !== 'stdio') break;
        for (const m of monitors.slice(i, i + STOP_BATCH)) closes.push(m.session.close().finally(() => open--));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.allSettled(closes);
    })();
    return { done, open: () => open };
  }

  /** The calling agents and the last probe counts, written and flushed while the store stays open. */
  private writeState(): void {
    this.writeCallers();
    this.saveStates(this.monitors.values());
    try {
      this.store.checkpoint(this.now());
      this.store.flush();
    } catch (err) {
      this.log.error({ err, file: this.config.state.path }, 'writing the last probe counts to the state file failed');
    }
  }

  private writeCallers(): void {
    try {
      if (this.callers) this.saveCallers();
    } catch (err) {
      this.log.error({ err, file: this.config.state.path }, 'writing the calling agents to the state file failed');
    }
  }

  /** Current status per server (for tests and /readyz details). */
  statuses(): Record<string, string> {
    return Object.fromEntries([...this.monitors].map(([name, m]) => [name, m.track.sm.status]));
  }

  sessionPid(name: string): number | undefined {
    return this.monitors.get(name)?.session.pid;
  }

  /** What identifies each monitored server in traffic (pipeline/traffic.ts serverResolver). */
  private *identities(): Iterable<ServerIdentity> {
    for (const m of this.monitors.values()) {
      yield {
        name: m.server.name,
        url: m.server.url,
        command: m.server.command,
        serverInfoName: m.track.serverInfoName,
        tools: m.track.snapshot?.tools.map((t) => t.name),
        hints: m.server.traffic,
      };
    }
    yield* this.others.values();
  }

  /** The set of servers (or what identifies one) changed: traffic is matched and labelled afresh. */
  private serversChanged(): void {
    this.resolveServer = undefined;
    this.traffic?.reset();
  }

  private makeNotifiers(config: Config): Notifier[] {
    const replica = config.sharding?.replica ?? 0;
    // Another replica of this shard pages through these: Alertmanager deduplicates, a Slack channel does not.
    const off = config.alerts.filter((cfg) => cfg.replicas === 'first' && replica !== 0);
    if (off.length > 0) this.log.info({ replica, notifiers: off.map((cfg) => cfg.type) }, 'notifiers with `replicas: first` stay silent on this replica');
    return config.alerts.filter((cfg) => !off.includes(cfg)).map((cfg) => createNotifier(cfg, { stdout: this.opts.stdout }));
  }

  /** `track`: the state a replaced monitor leaves to this one (reload). */
  private addMonitor(server: ServerConfig, track?: ServerTrack): Monitor {
    const name = server.name;
    const last = track ? undefined : this.store.lastSnapshot(name);
    const monitor = new Monitor(
      server,
      this.config,
      (signal) => {
        this.log.debug({ server: name, signal }, 'checking now');
        this.scheduler.trigger(name);
      },
      this.now,
      last && { hash: last.hash, tools: last.tools as ToolInfo[] },
      this.store.era(name),
      (this.processGroups ??= new probing!.ProcessGroups()),
      track,
    );
    this.warnUnusable(server);
    this.monitors.set(name, monitor);
    this.unchecked.add(name);
    this.serversChanged();
    this.recorder.register(server);
    this.scheduler.add(
      name,
      {
        run: () => this.check(monitor),
        nextDelay: () => nextDelay(monitor),
      },
      Math.min(server.interval, RECHECK_MS),
    );
    return monitor;
  }

  /**
   * A server whose configuration cannot be used (an unset `${env:…}`) is never probed: said when the
   * agent takes it on, at start or at a reload, not left for its first check's `down` to reveal.
   */
  private warnUnusable(server: ServerConfig, before?: ServerConfig): void {
    if (server.config_error === undefined || server.config_error === before?.config_error) return;
    // Each key, line and variable or file as fields too, for a log query to find without parsing the text.
    this.log.warn({ server: server.name, error_type: 'config_error', config: this.loaded.file, problems: server.config_problems }, server.config_error);
  }

  private removeMonitor(name: string, why: string, opts: { replacing?: boolean } = {}): void {
    const monitor = this.monitors.get(name);
    if (!monitor) return;
    this.scheduler.remove(name);
    this.monitors.delete(name);
    this.unchecked.delete(name);
    this.serversChanged();
    // A replacing monitor takes over its state and counters: the status series stays as it is.
    if (!opts.replacing) {
      this.recorder.unregister(name);
      this.store.forget(name, this.now());
      this.callers.forget(name);
      this.agentMetrics.forget(name);
      this.store.forgetCallers(name);
      try {
        this.store.forgetServer(name, this.now());
      } catch (err) {
        this.log.warn({ err, server: name }, 'closing the incident of a server no longer monitored in the state file failed');
      }
      // Its credentials (the secret, the token) are not kept for the rest of the process's life.
      probing?.forgetCredentials(name);
      this.removed.set(name, {});
    }
    void monitor.session.close();
    // A replaced server is still monitored: "stopped monitoring" read as if it had left the
    // configuration (the line the docs give for a removed one).
    this.log.info({ server: name }, opts.replacing ? `new session: ${why}` : `stopped monitoring: ${why}`);
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
      this.record(monitor, configuredRuns(out, monitor.server));
    } catch (err) {
      this.log.error({ server: monitor.server.name, err }, 'recording a check failed');
    }
  }

  private record(monitor: Monitor, out: CheckOutcome): void {
    const at = this.now();
    this.apply(monitor, out, assess(monitor.track, out, at, this.config.monitoring.drift_alert_interval, this.config.monitoring.credential_expiry_warning), at);
  }

  /** The one place a check's verdict reaches the store, the recorder and the notifiers. */
  private apply(monitor: Monitor, out: CheckOutcome, a: Assessment, at: number): void {
    const server = monitor.server;
    monitor.last = summarize(out);
    monitor.lastAt = at;
    // A new name or tool list changes which spans match the server (tool names decide for OpenLLMetry's).
    if (a.serverInfoChanged || a.snapshot) this.resolveServer = undefined;
    this.recorder.check(server, out, a);
    if (monitor.track.sm.status !== 'unknown') this.endExpired(monitor);
    this.store.recordCheck(server.name, at, a, observationHoldMs(server));
    const t = a.transition;
    if (t) {
      this.log.info({ server: server.name, from: t.from, to: t.to, cause: t.cause }, 'state changed');
      this.saveStates([monitor]);
      // Availability moves most when the state does: do not leave the gauge a refresh period behind.
      this.refreshAvailability([server.name]);
    } else if (a.events.some((e) => e.event === 'credential_expiring')) {
      // Kept at once, not at the stop: an agent that is killed (an OOM, a node lost) would warn again.
      this.saveStates([monitor]);
    }
    this.log.debug({ server: server.name, status: monitor.track.sm.status, latency_ms: out.latencyMs, error: out.error, tools: out.tools?.length }, 'checked');
    for (const draft of a.events) this.emit(server, draft, at);
    if (a.revised) {
      this.log.info({ server: server.name, error_type: a.revised.details.error_type, previous_error_type: a.revised.details.previous_error_type, detail: a.revised.message }, 'still down, for another cause');
      this.dispatcher.revise(this.event(server, a.revised, at));
    }
    this.catchUp(monitor, at);
    for (const c of out.checks ?? []) {
      if (c.status !== 'refused') monitor.refused.delete(c.name);
      else if (!monitor.refused.has(c.name)) {
        monitor.refused.add(c.name);
        this.log.warn({ server: server.name, check: c.name, tool: c.target }, c.error?.message ?? 'check refused');
      }
    }

    if (monitor.checks++ === 0 && this.monitors.get(server.name) === monitor) this.unchecked.delete(server.name);
    this.maybeReady();
  }

  /** Ready once every monitored server has had a check: after one, or after a reload removed the rest. */
  private maybeReady(): void {
    if (this.readyOnce || this.stopping || this.unchecked.size > 0) return;
    this.readyOnce = true;
    this.refreshAvailability();
    void this.score();
    this.log.info('first probe round done: ready');
  }

  /** Judges every server's traffic error rate. */
  private judgeTraffic(): void {
    const at = this.now();
    for (const monitor of this.monitors.values()) {
      let step: StepResult;
      try {
        step = assessTraffic(monitor.track, at);
      } catch (err) {
        this.log.error({ server: monitor.server.name, err }, 'judging traffic failed');
        continue;
      }
      this.applyStep(monitor, step, at);
    }
  }

  /**
   * The one place a verdict reached outside a check (the traffic error rate, a reload's new policy)
   * reaches the store, the recorder and the notifiers.
   */
  private applyStep(monitor: Monitor, step: StepResult, at: number, except?: ReadonlySet<string>): void {
    const server = monitor.server;
    const t = step.transition;
    if (t) {
      this.log.info({ server: server.name, from: t.from, to: t.to, cause: t.cause }, 'state changed');
      this.recorder.transition(server.name, t);
      try {
        this.endExpired(monitor);
        this.store.transition(server.name, at, t.to === 'up' ? null : { state: t.to, cause: t.cause, errorType: t.errorType });
      } catch (err) {
        this.log.warn({ err, server: server.name }, 'recording a state change in the state file failed');
      }
      this.saveStates([monitor]);
    }
    for (const draft of step.events) this.emit(server, draft, at, except);
  }

  /** `except`: notifiers (by key) the event is not for. */
  private emit(server: ServerConfig, d: EventDraft, at: number, except?: ReadonlySet<string>): void {
    const event = this.event(server, d, at);
    this.log.info({ server: server.name, event: d.event, severity: d.severity, detail: d.message }, 'alert');
    // Added back and alerting: its new monitor's events now decide its alerts, in order.
    this.removed.delete(server.name);
    // Every notifier it goes to hears where the server stands from this event: no catch-up is owed
    // to it any more. Those of `except` are caught up by catchUpAdded after a reload, or at the
    // server's first check after the start (catchUp), by what they were told.
    const monitor = this.monitors.get(server.name);
    if (monitor && STATE_EVENTS.includes(d.event)) {
      const resumed = monitor.resumed;
      monitor.resumed = resumed && except ? { ...resumed, told: toldNow(resumed.told, this.dispatcher.keys, except, d.current_state) } : undefined;
    }
    this.dispatcher.dispatch(event, except);
  }

  private event(server: ServerConfig, d: EventDraft, at: number): AlertEvent {
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
    const affected = this.affected(server.name, d, at);
    if (affected) event.affected_agents = affected;
    return event;
  }

  /**
   * Goes on with each server from the state file (pipeline/resume.ts): an incident under way goes
   * on, neither alerted nor counted again; the Alertmanager's alerts are taken up and re-posted; a
   * state too old to go on with ends its incident. Servers of the file this agent no longer
   * monitors end theirs, and those the configuration no longer names have their alerts resolved,
   * as after a reload that removes them.
   */
  private resumeStates(): void {
    const at = this.now();
    let read;
    try {
      this.store.flush();
      const states = this.store.serverStates();
      const open = new Map(this.store.openIncidents().map((i) => [i.server, i]));
      const lastMinutes = new Map<string, number>();
      for (const name of new Set([...this.monitors.keys(), ...states.keys(), ...open.keys()])) {
        const minute = this.store.lastMinute(name);
        if (minute !== undefined) lastMinutes.set(name, minute);
      }
      read = { states, notified: this.store.notified(), lastMinutes, open };
    } catch (err) {
      this.log.warn({ err, file: this.config.state.path }, 'reading what the last run left in the state file failed: every server starts anew, and its open incidents may be alerted again');
      return;
    }
    const { states, notified, lastMinutes, open } = read;
    let resumed = 0;
    let notUp = 0;
    for (const monitor of this.monitors.values()) {
      const name = monitor.server.name;
      monitor.track.rememberWarning(states.get(name)?.memory);
      const plan = planResume({ stored: states.get(name), open: open.get(name), lastMinute: lastMinutes.get(name), now: at, resumeWithinMs: this.config.state.resume_within });
      if (plan.kind === 'expired') {
        monitor.expiredAt = plan.seenAt;
        monitor.track.sm.restoreExpired(plan.state, plan.since, plan.seenAt);
        // Alerts of the old incident that Alertmanager still holds (a short resume_within) resolve
        // now: its `recovered` finds none active, and a failure now is a new alert.
        this.dispatcher.restore(name, notified.get(name) ?? new Map<string, Told>(), 'end');
        this.log.info(
          { server: name, state: plan.state, last_checked_at: new Date(plan.seenAt).toISOString(), resume_within_ms: this.config.state.resume_within },
          'the last run saw this server too long ago to go on with its incident: it ends when the server was last checked, and a failure now is a new incident',
        );
        continue;
      }
      if (plan.kind !== 'resume') continue;
      resumed++;
      monitor.track.restore(plan.memory, at, plan.seenAt, this.receiver !== undefined);
      monitor.seenAt = plan.seenAt;
      this.recorder.setStatus(name, plan.memory.status);
      if (plan.memory.status !== 'up') notUp++;
      const told = notified.get(name) ?? new Map<string, Told>();
      this.dispatcher.restore(name, told);
      monitor.resumed = { told, legacy: plan.legacy };
      // As a reload would: a failing check no longer configured ends. The traffic is judged now, on
      // the calls of its window: a failure whose calls have left it while the agent was stopped ends
      // here, not a window later, and with no receiver (no counts taken) it ends too. What these
      // say of the incident under way goes to the notifiers told it began; the others (added since,
      // or a delivery that failed) hear where the server stands after its first check (catchUp).
      const untold = isBad(plan.memory.status) && !plan.legacy ? new Set(this.dispatcher.keys.filter((key) => !isBad(told.get(key)?.state ?? 'up'))) : undefined;
      this.applyStep(monitor, monitor.track.setPolicy(policyOf(monitor.server, this.config), at), at, untold);
      this.applyStep(monitor, assessTraffic(monitor.track, at), at, untold);
    }
    const configured = new Set(this.loaded.config.servers.map((s) => s.name));
    const unnamed: string[] = [];
    for (const name of new Set([...states.keys(), ...open.keys()])) {
      if (this.monitors.has(name)) continue;
      const seenAt = Math.max(states.get(name)?.seenAt ?? 0, lastMinutes.get(name) ?? 0, open.get(name)?.startedAt ?? 0);
      this.store.forgetServer(name, seenAt || at);
      // A server of another shard is that shard's to alert on.
      if (configured.has(name)) continue;
      this.dispatcher.restore(name, notified.get(name) ?? new Map<string, Told>());
      unnamed.push(name);
    }
    if (unnamed.length > 0) {
      void this.dispatcher.forget(unnamed).catch((err: unknown) => this.log.error({ err }, 'resolving the alerts of removed servers failed'));
      this.log.info({ servers: unnamed }, 'servers of the state file no longer configured: their incidents are closed and their alerts resolved, without an event');
    }
    if (resumed > 0) this.log.info({ servers: resumed, not_up: notUp }, 'went on from the state file: servers as the last run left them, incidents under way neither alerted nor counted again');
  }

  /**
   * After the first check of a server taken up from the state file, if it sent no event: the
   * notifiers that were not told where it stands are told now (Told, pipeline/resume.ts).
   */
  private catchUp(monitor: Monitor, at: number): void {
    const resumed = monitor.resumed;
    if (!resumed) return;
    monitor.resumed = undefined;
    this.tellUntold(monitor, at, resumed.told, resumed.legacy, 'restart');
  }

  /**
   * Notifiers a reload added (`added`, by key) are told of the incidents under way once the reload
   * is applied, as a notifier added across a restart is: by what the state file says each was told
   * (nothing for a new one). An incident the reload itself ended is not under way: a new notifier
   * hears nothing of it. A server still waiting for its first check since the start is left to catchUp().
   */
  private catchUpAdded(added: ReadonlySet<string>, at: number): void {
    if (added.size === 0) return;
    let notified;
    try {
      notified = this.store.notified();
    } catch (err) {
      this.log.warn({ err, file: this.config.state.path }, 'reading what the notifiers were told from the state file failed: the notifiers the reload added hear of each server at its next change');
      return;
    }
    for (const monitor of this.monitors.values()) {
      const status = monitor.track.sm.status;
      // A notifier added back while it still sends what it held goes on from that.
      const told = this.dispatcher.toldOnceSent(monitor.server.name, notified.get(monitor.server.name) ?? new Map<string, Told>());
      // Up, with none of them told otherwise: nothing to tell, and no incident to read.
      if (monitor.resumed || status === 'unknown' || (status === 'up' && ![...added].some((key) => isBad(told.get(key)?.state ?? 'up')))) continue;
      // One added back that was told of this state before a reload removed it: its alerts there have
      // ended or will (nothing re-posted them meanwhile), so they are taken up and posted again, as
      // after a restart. Told of another state, the catch-up below tells it where the server stands.
      const same = new Map([...told].filter(([key, t]) => added.has(key) && t.state === status));
      if (isBad(status) && same.size > 0) this.dispatcher.restore(monitor.server.name, same, 'resume', added);
      // Told of a bad state the server has left meanwhile: the alerts it posted there still fire until
      // their endsAt, and the catch-up cannot resolve what the new instance never held; they end now.
      const left = new Map([...told].filter(([key, t]) => added.has(key) && t.state !== status && isBad(t.state)));
      if (left.size > 0) this.dispatcher.restore(monitor.server.name, left, 'end', added);
      this.tellUntold(monitor, at, told, false, 'reload', added);
    }
  }

  /** Where the server stands, to the notifiers (of `only`, if given) that `told` says were told otherwise (AlertDispatcher.catchUp). */
  private tellUntold(monitor: Monitor, at: number, told: ReadonlyMap<string, Told>, assumeTold: boolean, when: CatchUpWhen, only?: ReadonlySet<string>): void {
    const sm = monitor.track.sm;
    let incident;
    try {
      incident = this.store.lastIncident(monitor.server.name);
    } catch (err) {
      this.log.warn({ err, server: monitor.server.name }, `reading the last incident from the state file failed: no catch-up for notifiers added since the last ${when}`);
      return;
    }
    const draft = catchUpDraft(sm.status, sm.notUpSince, incident, when);
    if (draft) this.dispatcher.catchUp(this.event(monitor.server, draft, at), told, assumeTold, only);
  }

  /** The last run's incident that was too old to go on with ends when the server was last checked (Monitor.expiredAt). */
  private endExpired(monitor: Monitor): void {
    if (monitor.expiredAt === undefined) return;
    this.store.transition(monitor.server.name, monitor.expiredAt, null);
    monitor.expiredAt = undefined;
  }

  /** Keeps each server's state machine and traffic counts for the next run (pipeline/assess.ts ServerTrack.memory()). */
  private saveStates(monitors: Iterable<Monitor>): void {
    const rows: Array<{ server: string; memory: MachineMemory; seenAt: number }> = [];
    for (const m of monitors) {
      const seenAt = m.lastAt ?? m.seenAt;
      if (seenAt !== undefined) rows.push({ server: m.server.name, memory: m.track.memory(), seenAt });
    }
    try {
      this.store.saveStates(rows);
    } catch (err) {
      this.log.warn({ err, file: this.config.state.path }, 'writing the servers\' states to the state file failed: after a restart, their open incidents may be alerted again');
    }
  }

  /** A delivery: what the notifier now knows of the server, for the next run (Told). */
  private delivered(key: string, event: AlertEvent, held: unknown): void {
    if (!this.storeOpen || !STATE_EVENTS.includes(event.event) || !this.monitors.has(event.server)) return;
    try {
      this.store.saveNotified(key, event.server, event.current_state, held, this.now());
    } catch (err) {
      this.log.warn({ err, file: this.config.state.path, server: event.server }, 'writing what a notifier was told to the state file failed: after a restart, it may be told again');
    }
  }

  /**
   * One recognised span: its metrics, and for a configured server, its caller. The server is the one
   * the traffic router labelled the call with (pipeline/traffic.ts), so attribution has one home.
   */
  private onTraffic(obs: Observation, span: SpanOrigin): void {
    const cells = this.traffic.route(obs);
    this.recorder.traffic(cells, obs.durationSeconds);
    // A server of another shard too: its calls-by-agent series join the probing agent's alerts in Prometheus.
    if (!this.monitors.has(cells.server) && !this.others.has(cells.server)) return;
    const caller = callerOf(span);
    // One clock read per request (a resource's spans arrive together), not one per span.
    const at = caller ? (caller.at ??= this.now()) : this.now();
    cells.window?.record(at, obs.errorType);
    if (!caller) return;
    // Found once per route for the spans of one resource: each span is then two increments.
    const slots = (caller.slots ??= new Map());
    let slot = slots.get(cells);
    if (!slot || slot.generation !== this.callers.generation) {
      slot = this.callers.slot(cells.server, cells.tool, caller);
      slot.cell = this.agentMetrics.cell(cells.server, caller);
      slots.set(cells, slot);
    }
    slot.add(at);
    slot.cell!.calls++;
  }

  /** The agents an event affects; for schema_drift, those that called the changed or removed tools. */
  private affected(name: string, d: EventDraft, at: number): AffectedAgents | undefined {
    if (!BLAST_RADIUS_EVENTS.includes(d.event)) return undefined;
    if (this.callers.view(name, at).total_calls === 0) return undefined;
    if (d.event !== 'schema_drift') return affectedAgents(this.callers.view(name, at));
    const diff = d.details.diff as DriftProjection | undefined;
    const tools = [...(diff?.tools_removed ?? []), ...(diff?.tools_modified ?? []).map((m) => m.name)];
    // Tools only added break no caller.
    return tools.length > 0 ? affectedAgents(this.callers.view(name, at, tools), tools) : undefined;
  }

  /** Writes the callers' changed buckets and forgets agents gone quiet for a whole window. */
  private saveCallers(): void {
    const now = this.now();
    for (const [server, agent] of this.callers.expire(now)) this.agentMetrics.release(server, agent);
    this.store.saveCallers(this.callers.rows(now), now - this.config.blast_radius.window);
    this.callers.written();
  }

  /** Each monitored server as `health --json` prints it, with what only the running agent knows. */
  serversView(): AgentView {
    const now = this.now();
    const servers = [...this.monitors.values()].map((m) => {
      const note = [m.last ? probeVerdict(m.last, m.server.thresholds).note : '', m.track.sm.trafficCause].filter(Boolean).join('; ');
      const json = serverJson(m.server, m.last, m.track.sm.status, note);
      json.era ??= this.store.era(m.server.name)?.kind ?? null;
      const availability: AgentServerJson['availability'] = {};
      for (const window of Object.keys(AVAILABILITY_WINDOWS) as AvailabilityWindowName[]) availability[window] = m.availability[window] ?? null;
      return {
        ...json,
        last_checked_at: m.lastAt === undefined ? null : new Date(m.lastAt).toISOString(),
        last_error: m.track.sm.lastError,
        availability,
        agents: affectedAgents(this.callers.view(m.server.name, now)),
      };
    });
    return { generated_at: new Date(now).toISOString(), servers };
  }

  /** Also writes the probe counts and observed time held in memory (StateStore.recordProbe), every 30 s. */
  private refreshAvailability(names?: readonly string[]): void {
    const now = this.now();
    try {
      // Only the servers asked about: a state change credited every server's time and wrote a row
      // for each, so a first round of n servers (n changes from `unknown`) wrote n² rows.
      this.store.checkpoint(now, names);
      this.store.flush();
      // Not the servers at rest: a row for every server at every refresh held the event loop long
      // enough to delay checks in a large fleet, and the row written when each came up is enough to
      // resume it (stop() writes them all).
      if (!names) this.saveStates([...this.monitors.values()].filter((m) => !m.track.sm.atRest));
      for (const name of names ?? this.monitors.keys()) {
        for (const [window, ms] of Object.entries(AVAILABILITY_WINDOWS) as Array<[AvailabilityWindowName, number]>) {
          const ratio = this.store.availability(name, ms, now).ratio;
          this.recorder.setAvailability(name, window, ratio);
          const monitor = this.monitors.get(name);
          if (monitor) monitor.availability[window] = ratio;
        }
      }
      // Unwritten buckets stay marked and go with the next attempt.
      this.saveCallers();
    } catch (err) {
      // Runs from a timer: a state file that cannot be written must not end the agent.
      this.log.warn(
        { err, file: this.config.state.path, minutes_given_up: this.store.droppedMinutes },
        'writing probe counts to the state file failed; the last hour of them is kept in memory and written at the next attempt',
      );
    }
  }

  /**
   * Grades every server for the score gauge, a slice at a time. In one go, at the end of a first
   * round of thousands of servers, its store reads and results were one burst that V8 read as a
   * fast-growing old generation, and it chose its largest heap growth for the rest of the run
   * (docs/benchmarks.md).
   */
  private async score(): Promise<void> {
    if (this.scoring) return;
    this.scoring = true;
    try {
      const raws = this.rawEntries();
      const now = this.now();
      let done = 0;
      for (const monitor of [...this.monitors.values()]) {
        if (this.stopping) return;
        const name = monitor.server.name;
        if (this.monitors.get(name) !== monitor) continue;
        const r = scoreOne(monitor.server, raws.get(name) ?? null, this.store, now);
        const dims: Record<string, number> = r.points === null ? {} : { overall: r.points };
        for (const [d, v] of Object.entries(r.dimensions)) if (v.points !== null) dims[d] = v.points;
        this.recorder.setScore(r.server, dims);
        if (++done % SCORE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      this.log.warn({ err }, 'scoring the fleet failed');
    } finally {
      this.scoring = false;
    }
  }

  /** Each server's entry as the file writes it (the score's inlined-secret check), parsed once per configuration. */
  private rawEntries(): Map<string, RawServer | null> {
    const text = this.loaded.text;
    if (this.raws?.text !== text) {
      const names = this.config.servers.map((s) => s.name);
      const entries = rawServers(text, names);
      this.raws = { text, byName: new Map(names.map((name, i) => [name, entries[i] ?? null])) };
    }
    return this.raws.byName;
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
        // A receiver that refuses requests (memory pressure) is not ready: traffic should go elsewhere.
        const refusing = this.receiver?.refusing();
        const ready = this.readyOnce && !this.stopping && refusing === undefined;
        const status = ready ? 'ready' : refusing !== undefined ? 'refusing' : 'starting';
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status, ...(refusing ? { reason: refusing } : {}), servers: this.statuses() }));
      } else if (path === '/api/v1/servers') {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' }).end(JSON.stringify({ error: 'method not allowed: use GET' }));
          return;
        }
        // The endpoint listens beyond localhost in Kubernetes (the kubelet's probes): nothing served
        // there quotes a URL's credentials, as alerts do not.
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(redactDeep(this.serversView())));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('mcpwatch health serves /healthz, /readyz and /api/v1/servers\n');
      }
    });
    await listen(this.healthServer, host, port, 'health.endpoint');
    return this.healthServer.address() as AddressInfo;
  }
}
