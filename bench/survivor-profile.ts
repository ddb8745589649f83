// Diagnostic preload for the agent (`--node-args "--import dist/bench/survivor-profile.js"`): a
// sampling heap profile of only what survives scavenges, i.e. what reaches V8's old generation
// (promoted, or allocated there because V8 pretenured its allocation site), over a window of the
// agent's run. Configured by the environment, which the agent inherits from the bench:
//
//   SURVIVOR_PROFILE=FILE.heapprofile  where to write it (nothing happens without it)
//   SURVIVOR_PROFILE_FROM_S=45         seconds after the agent started (default 45)
//   SURVIVOR_PROFILE_SECONDS=30        how long to sample (default 30)
//
// Summarise with `node dist/bench/heapprofile-summary.js FILE.heapprofile`. Only for diagnosis.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const out = process.env.SURVIVOR_PROFILE;
if (out) {
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  const fromMs = Number(process.env.SURVIVOR_PROFILE_FROM_S ?? 45) * 1000;
  const forMs = Number(process.env.SURVIVOR_PROFILE_SECONDS ?? 30) * 1000;
  setTimeout(() => {
    void (async () => {
      await post('HeapProfiler.enable');
      // Objects a scavenge collects are dropped from the profile; those a full GC collects are kept,
      // so old-space garbage counts too.
      await post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
      setTimeout(() => {
        void post('HeapProfiler.stopSampling').then((r) => writeFileSync(out, JSON.stringify((r as { profile: unknown }).profile)));
      }, forMs).unref();
    })();
  }, fromMs).unref();
}
