import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BodyTooLargeError, declaredOver, readLimited, userinfoAsBasic } from '../../src/wire/http.js';

/** A body of `count` chunks of `size` bytes (chunk i filled with i), counting what was pulled. */
function body(count: number, size: number): { chunks: AsyncGenerator<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  async function* gen(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < count; i++) {
      pulled++;
      yield new Uint8Array(size).fill(i);
    }
  }
  return { chunks: gen(), pulled: () => pulled };
}

describe('wire/http: readLimited', () => {
  it('returns a body of exactly the cap whole', async () => {
    const b = body(4, 256);
    const got = await readLimited(b.chunks, 1024, 'stop');
    assert.equal(got.length, 1024);
    assert.equal(got[1023], 3);
  });

  it('stop: refuses past the cap without reading further', async () => {
    const b = body(10, 300);
    await assert.rejects(readLimited(b.chunks, 1000, 'stop'), (err: unknown) => err instanceof BodyTooLargeError && err.max === 1000);
    assert.equal(b.pulled(), 4, 'reading ended at the chunk that went over');
  });

  it('drain: refuses past the cap after reading the body to its end', async () => {
    const b = body(10, 300);
    await assert.rejects(readLimited(b.chunks, 1000, 'drain'), BodyTooLargeError);
    assert.equal(b.pulled(), 10);
  });

  it('passes on an error of the source (a connection cut mid-body)', async () => {
    async function* cut(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10);
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    }
    await assert.rejects(readLimited(cut(), 1000, 'drain'), { message: 'aborted' });
  });
});

describe('wire/http: declaredOver', () => {
  const rows: Array<[string | string[] | null | undefined, number | undefined]> = [
    ['2000', 2000],
    ['1000', undefined],
    [['5000'], 5000],
    [null, undefined],
    [undefined, undefined],
    ['nonsense', undefined],
  ];
  for (const [header, expected] of rows) {
    it(`Content-Length ${JSON.stringify(header)} against a cap of 1000 → ${expected}`, () => {
      assert.equal(declaredOver(header, 1000), expected);
    });
  }
});

describe('wire/http: userinfoAsBasic', () => {
  const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  it('sends the userinfo decoded, and the URL without it', () => {
    assert.deepEqual(userinfoAsBasic('http://u%40corp:p%2Fw@h:4318/base?k=1'), { url: 'http://h:4318/base?k=1', authorization: basic('u@corp', 'p/w') });
  });
  it('keeps a % that starts no escape as written, instead of throwing', () => {
    assert.deepEqual(userinfoAsBasic('http://u:p%zz%41@h:4318'), { url: 'http://h:4318/', authorization: basic('u', 'p%zzA') });
    // A run of escapes that is no UTF-8 stays as written too.
    assert.deepEqual(userinfoAsBasic('http://u:%C3@h:4318'), { url: 'http://h:4318/', authorization: basic('u', '%C3') });
  });
  it('leaves a URL without userinfo alone', () => {
    assert.deepEqual(userinfoAsBasic('http://h:4318/x'), { url: 'http://h:4318/x' });
  });
});
