/**
 * The controller hands the signature cache the digests the ClusterVersion still names, so the
 * cache drops the rest (issue 14).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CURRENT_RELEASE, release, startController } from '../helpers/controller-fixture.js';

const TARGET = release(0x300);
const digestOf = (image: string): string => image.slice(image.indexOf('@') + 1);

describe('ReleaseController and the signature cache', () => {
  it('persists a verified release with the digests history, desired and the request name', async () => {
    const calls: { digest: string; keep: ReadonlySet<string> | undefined }[] = [];
    const f = await startController(
      {
        signatureCache: {
          describe: () => 'recording cache',
          persist: (digest, _signatures, keep) => {
            calls.push({ digest, keep });
            return Promise.resolve(1);
          },
        },
      },
      [{ version: '4.17.0', image: TARGET }],
    );
    f.verifier.accept(TARGET);
    await f.request({ version: '4.17.0', image: TARGET });
    assert.equal((await f.condition('ReleaseAccepted'))?.status, 'True');
    const call = calls.find((c) => c.digest === digestOf(TARGET));
    assert.ok(call, 'the verified release was persisted');
    assert.ok(call.keep?.has(digestOf(TARGET)), 'its own digest is kept');
    assert.ok(call.keep?.has(digestOf(CURRENT_RELEASE.image)), 'the installed release is kept');
    await f.controller.stop();
  });
});
