/**
 * Found by the issue-14 review (2f287cc): a cached keyring's openpgp.js objects carry mutable validity state.
 *
 * openpgp.js 6.3.2's isDataRevoked writes `signature.revoked = … ? true : signature.revoked ||
 * false` on the self-certification it judges: once a user ID's certification was found revoked
 * at some date, it stays "revoked" for every later judgement, at any date. getPrimaryUser sorts
 * revoked users last, so another user ID's self-certification (other key flags, other expiry)
 * then decides whether the primary key was a signing key when an *older* signature was made.
 *
 * KeyringCache hands the same parsed Key objects to every consumer that loads the same name and
 * bytes (ConfigMap re-reads, payload trust, CLI runs in one process), and its doc says "Validity
 * at a given time (expiry, revocation) is judged on every verification, never cached". Here a
 * signature that a freshly parsed keyring refuses (KEY_NOT_VALID) is accepted by the cached one
 * after a *different* signature was verified with it: the verdict depends on what was verified
 * before, by whom.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  createMessage,
  config as pgpConfig,
  enums,
  generateKey,
  sign as pgpSign,
  SignaturePacket,
} from 'openpgp';
import type { PrivateKey } from 'openpgp';

import { VerifyError } from '../../src/errors.js';
import { KeyringCache, loadKeyring } from '../../src/gpg/keyring.js';
import { verifySignedMessage } from '../../src/gpg/verify-message.js';
import { atomicPayload, randomDigest } from '../helpers/gnupg.js';

const DAY = 24 * 3600 * 1000;

/** SignaturePacket.sign with the arguments openpgp.js 6 takes (its declarations list fewer). */
async function signPacket(
  sig: SignaturePacket,
  key: PrivateKey,
  userIndex: number,
  created: Date,
): Promise<void> {
  const sign = sig.sign.bind(sig) as unknown as (
    signingKey: unknown,
    data: unknown,
    date: Date,
    detached: boolean,
    config: unknown,
  ) => Promise<void>;
  await sign(
    key.keyPacket,
    { userID: key.users[userIndex]?.userID, key: key.keyPacket },
    created,
    false,
    pgpConfig,
  );
}

async function selfCert(
  key: PrivateKey,
  userIndex: number,
  flags: number[],
  primary: boolean,
  created: Date,
): Promise<SignaturePacket> {
  const sig = new SignaturePacket();
  sig.signatureType = enums.signature.certPositive;
  sig.publicKeyAlgorithm = key.keyPacket.algorithm;
  sig.hashAlgorithm = enums.hash.sha256;
  sig.keyFlags = new Uint8Array([flags.reduce((a, b) => a | b, 0)]);
  sig.isPrimaryUserID = primary;
  await signPacket(sig, key, userIndex, created);
  return sig;
}

async function uidRevocation(
  key: PrivateKey,
  userIndex: number,
  created: Date,
): Promise<SignaturePacket> {
  const sig = new SignaturePacket();
  sig.signatureType = enums.signature.certRevocation;
  sig.publicKeyAlgorithm = key.keyPacket.algorithm;
  sig.hashAlgorithm = enums.hash.sha256;
  // "User ID information is no longer valid": a soft revocation, judged at a date.
  sig.reasonForRevocationFlag = enums.reasonForRevocation.userIDInvalid;
  sig.reasonForRevocationString = 'renamed';
  await signPacket(sig, key, userIndex, created);
  return sig;
}

describe('a cached keyring: validity judged afresh for every verification', () => {
  it('judges an old signature the same whatever was verified with the cached keyring before', async () => {
    const now = Date.now();
    const t0 = new Date(now - 10 * DAY);
    const oldSigAt = new Date(now - 5 * DAY);
    const revokedAt = new Date(now - 3 * DAY);
    const newSigAt = new Date(now - 1 * DAY);

    // A key whose primary user ID "A" says the primary key certifies only, a second user ID "B"
    // says it also signs. A is soft-revoked (user ID no longer valid) after oldSigAt.
    const { privateKey } = await generateKey({
      type: 'rsa',
      rsaBits: 2048,
      userIDs: [
        { name: 'A', email: 'a@example.com' },
        { name: 'B', email: 'b@example.com' },
      ],
      date: t0,
      format: 'object',
    });
    // Sign both messages before the self-certifications are replaced (openpgp.js refuses to
    // sign with a key it considers unable to); the signature packets do not depend on them.
    const sign = async (at: Date): Promise<Uint8Array> =>
      (await pgpSign({
        message: await createMessage({
          binary: new Uint8Array(Buffer.from(atomicPayload(randomDigest()))),
        }),
        signingKeys: privateKey,
        date: at,
        format: 'binary',
      })) as Uint8Array;
    const oldSig = await sign(oldSigAt);
    const newSig = await sign(newSigAt);

    const a = privateKey.users[0]!;
    const b = privateKey.users[1]!;
    a.selfCertifications = [await selfCert(privateKey, 0, [enums.keyFlags.certifyKeys], true, t0)];
    a.revocationSignatures = [await uidRevocation(privateKey, 0, revokedAt)];
    b.selfCertifications = [
      await selfCert(
        privateKey,
        1,
        [enums.keyFlags.certifyKeys, enums.keyFlags.signData],
        false,
        t0,
      ),
    ];
    const keyBytes = privateKey.toPublic().write();

    // A freshly parsed keyring: at oldSigAt the primary user is A (certify only): refused.
    const fresh = await loadKeyring('verifier-public-key-k', keyBytes, {
      cache: new KeyringCache({ maxEntries: 0 }),
    });
    await assert.rejects(
      verifySignedMessage(oldSig, fresh),
      (err: unknown) => err instanceof VerifyError && err.code === 'KEY_NOT_VALID',
    );

    // The process's cache: one consumer verifies the new signature (A revoked by then, B is the
    // primary user: accepted, rightly) …
    const cache = new KeyringCache();
    const first = await loadKeyring('verifier-public-key-k', keyBytes, { cache });
    await verifySignedMessage(newSig, first);
    // … and another consumer, loading the same ConfigMap bytes later, asks about the old one.
    const second = await loadKeyring('verifier-public-key-k', keyBytes, { cache });
    assert.equal(second, first, 'the cache shares the parsed keyring');
    await assert.rejects(
      verifySignedMessage(oldSig, second),
      (err: unknown) => err instanceof VerifyError && err.code === 'KEY_NOT_VALID',
      'the old signature must be refused as the fresh keyring refuses it; the cached keyring ' +
        "kept openpgp.js's sticky `revoked` mark from the earlier verification and accepted it",
    );
  });
});
