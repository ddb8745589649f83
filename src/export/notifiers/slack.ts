// Slack incoming webhook: a Block Kit message a person can act on from a phone notification.
import type { AlertEvent, AlertEventName } from '../../pipeline/events.js';
import { affectedEntries, affectedLine, detailString, eventDiffLines, headline } from './format.js';
import { durationText } from '../../pipeline/status.js';
import { httpNotifierBase, postJson, USER_AGENT, type FetchLike } from './http.js';
import type { Notifier, RetryPolicy } from './types.js';

// Slack rejects the whole message (HTTP 400 invalid_blocks) when one of these is exceeded, and a
// rejected alert is worse than a truncated one.
const SLACK_LIMITS = { blocks: 50, headerText: 150, sectionText: 3000, fieldText: 2000, fields: 10, contextElements: 10 } as const;
/** Changes listed in the message; the rest are counted. */
const SLACK_MAX_CHANGES = 10;

interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}
export type SlackBlock =
  | { type: 'header'; text: SlackText }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] };
interface SlackMessage {
  /** Shown in notifications and by clients that cannot render blocks. */
  text: string;
  blocks: SlackBlock[];
}

const TITLES: Record<AlertEventName, string> = {
  down: 'is down',
  recovered: 'recovered',
  degraded: 'is degraded',
  latency_spike: 'latency spike',
  stale: 'is stale',
  session_expired: 'session expired',
  schema_drift: 'tool schema changed',
  check_failed: 'check failed',
  credential_expiring: 'credential expiring',
  traffic_errors: 'traffic errors',
};

/** The emoji says what happened; severity picks it only where the event alone does not (degraded). */
function slackEmoji(event: AlertEvent): string {
  switch (event.event) {
    case 'down':
      return ':red_circle:';
    case 'recovered':
      return ':large_green_circle:';
    case 'degraded':
      return event.severity === 'critical' ? ':red_circle:' : ':large_orange_circle:';
    case 'latency_spike':
      return ':snail:';
    case 'stale':
      return ':hourglass:';
    case 'session_expired':
      return ':key:';
    case 'schema_drift':
      return ':jigsaw:';
    case 'check_failed':
      return event.severity === 'critical' ? ':red_circle:' : ':large_orange_circle:';
    case 'credential_expiring':
      return ':key:';
    case 'traffic_errors':
      return ':large_orange_circle:';
    default:
      return event.severity === 'critical' ? ':rotating_light:' : event.severity === 'warning' ? ':warning:' : ':information_source:';
  }
}

/**
 * Slack reads `&`, `<` and `>` as markup: unescaped, a server's stderr containing `<!channel>` would
 * page a whole channel.
 */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function mrkdwn(text: string, max: number = SLACK_LIMITS.sectionText): SlackText {
  return { type: 'mrkdwn', text: clip(text, max) };
}

function field(label: string, value: string): SlackText {
  return mrkdwn(`*${label}*\n${escapeMrkdwn(value)}`, SLACK_LIMITS.fieldText);
}

/** Slack renders `<!date^…>` in the reader's time zone; the ISO text is the fallback. */
function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(iso);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${escapeMrkdwn(iso)}>`;
}

export function buildSlackMessage(event: AlertEvent): SlackMessage {
  const emoji = slackEmoji(event);
  const fields: SlackText[] = [
    field('Server', event.server),
    field('Event', event.event),
    field('State', `${event.previous_state} → ${event.current_state}`),
    field('Severity', event.severity),
  ];
  if (event.event === 'recovered' && event.downtime_seconds !== null) fields.push(field('Downtime', durationText(event.downtime_seconds)));
  const errorType = detailString(event, 'error_type', 'type');
  if (errorType) fields.push(field('Error type', errorType));
  const phase = detailString(event, 'phase', 'phase');
  if (phase) fields.push(field('Phase', phase));

  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(`${emoji} ${event.server} ${TITLES[event.event] ?? event.event}`, SLACK_LIMITS.headerText), emoji: true } },
    { type: 'section', text: mrkdwn(escapeMrkdwn(event.message)), fields: fields.slice(0, SLACK_LIMITS.fields) },
  ];

  const affected = event.affected_agents;
  if (affected) {
    const entries = affectedEntries(affected, event.timestamp);
    const text = entries.length > 0 ? `*Affected agents*\n${entries.map((e) => `• ${escapeMrkdwn(e)}`).join('\n')}` : escapeMrkdwn(affectedLine(event)!);
    blocks.push({ type: 'section', text: mrkdwn(text) });
  }

  const changes = eventDiffLines(event);
  if (changes.length > 0) {
    const listed = changes.slice(0, SLACK_MAX_CHANGES).map((line) => `• ${escapeMrkdwn(line)}`);
    const more = changes.length > SLACK_MAX_CHANGES ? `\n_…and ${changes.length - SLACK_MAX_CHANGES} more_` : '';
    const heading = `*Schema changes (${changes.length})*\n`;
    // Clip the list, not the "more" line, so the reader always learns that the list is incomplete.
    const list = clip(listed.join('\n'), SLACK_LIMITS.sectionText - heading.length - more.length);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `${heading}${list}${more}` } });
  }

  const context = [mrkdwn(slackDate(event.timestamp))];
  if (event.incident_started_at && event.incident_started_at !== event.timestamp) {
    context.push(mrkdwn(`incident since ${slackDate(event.incident_started_at)}`));
  }
  context.push(mrkdwn(`${escapeMrkdwn(event.transport)} · mcpwatch`));
  blocks.push({ type: 'context', elements: context.slice(0, SLACK_LIMITS.contextElements) });

  return { text: clip(`${emoji} ${escapeMrkdwn(headline(event))}`, SLACK_LIMITS.sectionText), blocks: blocks.slice(0, SLACK_LIMITS.blocks) };
}

interface SlackSettings {
  webhook_url: string;
  timeout: number;
  retry: RetryPolicy;
  events?: readonly string[] | undefined;
}

export function createSlackNotifier(cfg: SlackSettings, deps: { fetch: FetchLike; now: () => number }): Notifier {
  return {
    ...httpNotifierBase('slack', cfg.webhook_url, cfg),
    async deliver(event, signal) {
      const headers = new Headers({ 'content-type': 'application/json', 'user-agent': USER_AGENT });
      await postJson({ url: cfg.webhook_url, body: JSON.stringify(buildSlackMessage(event)), headers, signal, fetch: deps.fetch, now: deps.now });
    },
  };
}
