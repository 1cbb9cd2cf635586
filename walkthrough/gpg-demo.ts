import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { formatVerdictText } from '../src/cli/format-verdict.js';
import { loadRootOfTrust } from '../src/gpg/root-of-trust.js';
import { toStoreDigestPath } from '../src/image/pullspec.js';
import { createStoreFromUrl } from '../src/stores/create-store.js';
import { createHttpDispatcher } from '../src/stores/http-store.js';
import { GpgReleaseVerifier } from '../src/verify/gpg-verifier.js';
import { LruCache } from '../src/verify/verdict-cache.js';
import { verifyRelease } from '../src/verify/release-verifier.js';
import { atomicPayload, GnuPG } from '../testbed/gnupg.js';
import { LocalStoreServer } from '../testbed/local-store-server.js';
import { renderRootOfTrust } from '../testbed/root-of-trust.js';

export interface DemoIo {
  readonly stdout: (text: string) => void;
  /** Stops the demo before its next step (it then cleans up and returns false). */
  readonly signal?: AbortSignal;
}

const REPOSITORY = 'quay.io/openshift-release-dev/ocp-release';

/**
 * Shows the verifier working with nothing but this machine: a release key made with GnuPG, a
 * root-of-trust ConfigMap, a signature store served over HTTP on 127.0.0.1, and four requests —
 * by tag (refused), signed (verified), unsigned (refused, with evidence), then the signature is
 * published and the same release verifies. Returns true when every step gave the expected answer.
 */
export async function runGpgDemo(io: DemoIo): Promise<boolean> {
  const say = (text = ''): void => {
    io.stdout(`${text}\n`);
  };
  const work = await mkdtemp(join(tmpdir(), 'cvo-demo-'));
  const gpg = await GnuPG.create();
  let server: LocalStoreServer | undefined;
  try {
    say('== Setting up: a release key, a root of trust and a signature store on 127.0.0.1');
    const key = await gpg.generateKey('Demo Release Signing <release@example.com>', 'rsa4096');
    say(`   key ${key.keyId} (RSA-4096) made with GnuPG in ${gpg.home}`);
    const storeDir = join(work, 'store');
    await mkdir(storeDir);
    server = await LocalStoreServer.start(storeDir);
    const rootOfTrust = join(work, 'root-of-trust.yaml');
    await writeFile(
      rootOfTrust,
      renderRootOfTrust((await gpg.exportPublicKey(key)).toString(), server.url),
    );
    say(`   root of trust ${rootOfTrust}`);
    say(`   signature store ${server.url}`);

    const trust = await loadRootOfTrust(rootOfTrust);
    const dispatcher = createHttpDispatcher();
    const stores = trust.stores.map((s) =>
      createStoreFromUrl(s.url, { baseDir: work, dispatcher }),
    );
    // No cache, so the last step really goes back to the store.
    const verifier = new GpgReleaseVerifier({ trust, stores, cache: new LruCache(0) });

    const signedDigest = `sha256:${randomBytes(32).toString('hex')}`;
    const unsignedDigest = `sha256:${randomBytes(32).toString('hex')}`;
    const publish = async (digest: string): Promise<void> => {
      const dir = join(storeDir, toStoreDigestPath(digest));
      await mkdir(dir, { recursive: true });
      const signature = await gpg.sign(atomicPayload(digest, `${REPOSITORY}:4.17.0-x86_64`), {
        key: `${key.fingerprint}!`,
      });
      await writeFile(join(dir, 'signature-1'), signature);
    };
    await publish(signedDigest);

    const steps: [title: string, image: string, expected: boolean, before?: () => Promise<void>][] =
      [
        [
          '1. A by-tag pullspec: only a digest can be verified',
          `${REPOSITORY}:4.17.0-x86_64`,
          false,
        ],
        ['2. A signed release, by digest', `${REPOSITORY}@${signedDigest}`, true],
        [
          '3. An unsigned release: refused, with the evidence',
          `${REPOSITORY}@${unsignedDigest}`,
          false,
        ],
        [
          '4. Its signature is published to the store: now it verifies',
          `${REPOSITORY}@${unsignedDigest}`,
          true,
          () => publish(unsignedDigest),
        ],
      ];
    let ok = true;
    for (const [title, image, expected, before] of steps) {
      if (io.signal?.aborted === true) {
        say();
        say('== Stopped before the demo finished.');
        await dispatcher.close();
        return false;
      }
      say();
      say(`== ${title}`);
      if (before) await before();
      const verdict = await verifyRelease(image, { gpg: verifier });
      say(formatVerdictText(verdict).trimEnd());
      if (verdict.verified !== expected) {
        ok = false;
        say(`!! expected ${expected ? 'VERIFIED' : 'NOT VERIFIED'}`);
      }
    }
    say();
    say(
      ok
        ? '== Demo finished: every answer was the expected one.'
        : '== Demo finished with unexpected answers (see !! above).',
    );
    await dispatcher.close();
    return ok;
  } finally {
    await server?.close();
    await gpg.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}
