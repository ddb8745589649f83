import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { credentialExpiry } from '../../src/pipeline/credentials.js';
import { assess, ServerTrack, type CheckOutcome } from '../../src/pipeline/assess.js';
import { emptyOutcome } from '../../src/probe/probe.js';
import type { MachineMemory } from '../../src/pipeline/state-machine.js';

const H = 3_600_000;
const T0 = Date.UTC(2026, 11, 6, 12);

describe('credential_expiring', () => {
  it('is raised once per credential when it enters the warning window', () => {
    const exp = T0 + 30 * H;
    assert.deepEqual(credentialExpiry(undefined, exp, T0, 24 * H, 'up'), { warnedFor: undefined });
    const first = credentialExpiry(undefined, exp, T0 + 7 * H, 24 * H, 'up');
    assert.equal(first.warnedFor, exp);
    assert.equal(first.event?.event, 'credential_expiring');
    assert.equal(first.event?.severity, 'warning');
    assert.equal(first.event?.message, 'credential expires in 23h (2026-12-07T18:00:00.000Z): renew it before probes fail with auth_failed');
    assert.deepEqual(first.event?.details, { expires_at: '2026-12-07T18:00:00.000Z', seconds_left: 23 * 3600 });
    assert.equal(credentialExpiry(first.warnedFor, exp, T0 + 8 * H, 24 * H, 'up').event, undefined, 'not again for the same credential');
  });

  it('a rotated credential is warned about when its own time comes; an expired one is critical', () => {
    const rotated = credentialExpiry(T0 + H, T0 + 2 * H, T0, 24 * H, 'up');
    assert.equal(rotated.event?.event, 'credential_expiring');
    const expired = credentialExpiry(undefined, T0 - 90_000, T0, 24 * H, 'down');
    assert.equal(expired.event?.severity, 'critical');
    assert.equal(expired.event?.message, 'credential expired 1m 30s ago (2026-12-06T11:58:30.000Z)');
    assert.equal(expired.event?.current_state, 'down');
  });

  it('nothing without a known expiry', () => {
    assert.deepEqual(credentialExpiry(undefined, undefined, T0, 24 * H, 'up'), { warnedFor: undefined });
  });

  it('assess raises it from the outcome with the configured warning time', () => {
    const track = new ServerTrack({ failuresBeforeDown: 3, thresholds: {}, latencyWindow: 20, checks: [] });
    const out: CheckOutcome = { ...emptyOutcome({ name: 's', transport: 'streamable_http' }, T0), tools: [], latencyMs: 1, credentialExpiresAt: T0 + 2 * H, definitive: false, partial: false, sessionExpired: false };
    assert.deepEqual(assess(track, out, T0, 0, H).events.filter((e) => e.event === 'credential_expiring'), []);
    assert.equal(assess(track, out, T0 + 1.5 * H, 0, H).events.filter((e) => e.event === 'credential_expiring').length, 1);
    assert.equal(assess(track, out, T0 + 1.6 * H, 0, H).events.filter((e) => e.event === 'credential_expiring').length, 0);
  });

  it('a track taken up from memory() does not warn again of the credential the earlier run warned about', () => {
    const policy = { failuresBeforeDown: 3, thresholds: {}, latencyWindow: 20, checks: [] };
    const out = (expiresAt: number): CheckOutcome => ({ ...emptyOutcome({ name: 's', transport: 'streamable_http' }, T0), tools: [], latencyMs: 1, credentialExpiresAt: expiresAt, definitive: false, partial: false, sessionExpired: false });
    const warned = (t: ServerTrack, o: CheckOutcome, at: number): number => assess(t, o, at, 0, H).events.filter((e) => e.event === 'credential_expiring').length;
    const before = new ServerTrack(policy);
    assert.equal(warned(before, out(T0 + 2 * H), T0 + 1.5 * H), 1);
    const after = new ServerTrack(policy);
    after.rememberWarning(JSON.parse(JSON.stringify(before.memory())) as MachineMemory);
    assert.equal(warned(after, out(T0 + 2 * H), T0 + 1.6 * H), 0, 'the same credential');
    assert.equal(warned(after, out(T0 + 2.5 * H), T0 + 1.7 * H), 1, 'a rotated one');
    const fresh = new ServerTrack(policy);
    fresh.rememberWarning(undefined);
    assert.equal(warned(fresh, out(T0 + 2 * H), T0 + 1.6 * H), 1, 'nothing remembered: warned');
  });
});
