/**
 * Found by the issue-14 review (bd40b65): self-signatures pre-verified with node:crypto and marked with
 * openpgp.js's private "verified" symbol. These cases try to get a forged or transplanted
 * binding / certification marked, or accepted. They are expected to pass (what held).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createMessage, enums, generateKey, readKey, sign as pgpSign } from 'openpgp';
import type { PrivateKey, SecretKeyPacket } from 'openpgp';

import { VerifyError } from '../../src/errors.js';
import { KeyringCache, loadKeyring } from '../../src/gpg/keyring.js';
import { verifySignedMessage } from '../../src/gpg/verify-message.js';
import { atomicPayload, randomDigest } from '../helpers/gnupg.js';

const mark = (sig: object): unknown => {
  const symbol = Object.getOwnPropertySymbols(sig).find((x) => x.description === 'verified');
  assert.ok(symbol);
  return (sig as Record<symbol, unknown>)[symbol];
};

async function rsaKeyWithSigningSubkey(name: string): Promise<PrivateKey> {
  const { privateKey } = await generateKey({
    type: 'rsa',
    rsaBits: 2048,
    userIDs: [{ name, email: `${name}@example.com` }],
    subkeys: [{ sign: true }],
    date: new Date(Date.now() - 24 * 3600 * 1000),
    format: 'object',
  });
  return privateKey;
}

async function signWith(key: PrivateKey): Promise<Uint8Array> {
  return (await pgpSign({
    message: await createMessage({
      binary: new Uint8Array(Buffer.from(atomicPayload(randomDigest()))),
    }),
    signingKeys: key,
    format: 'binary',
  })) as Uint8Array;
}

const nocache = (): { cache: KeyringCache } => ({ cache: new KeyringCache({ maxEntries: 0 }) });

describe('review: pre-verified RSA self-signatures', () => {
  it("refuses an attacker's subkey carrying the victim's (valid) binding of another subkey", async () => {
    const victim = await rsaKeyWithSigningSubkey('victim');
    const attacker = await rsaKeyWithSigningSubkey('attacker');
    // The victim's public key with its signing subkey packet swapped for the attacker's; the
    // binding signature is the victim's genuine one (over the victim's own subkey).
    const forged = await readKey({ binaryKey: victim.toPublic().write() });
    const attackerPublic = await readKey({ binaryKey: attacker.toPublic().write() });
    (forged.subkeys[0] as unknown as { keyPacket: unknown }).keyPacket =
      attackerPublic.subkeys[0]!.keyPacket;
    const bytes = forged.write();
    const ring = await loadKeyring('verifier-public-key-v', bytes, nocache());
    // The message is signed by the attacker's signing subkey.
    const message = await signWith(attacker);
    await assert.rejects(
      verifySignedMessage(message, ring),
      (err: unknown) => err instanceof VerifyError && err.code !== 'UNKNOWN_KEY',
    );
    const binding = ring.keys[0]!.subkeys.find((s) =>
      s.getKeyID().equals(attackerPublic.subkeys[0]!.getKeyID()),
    )!.bindingSignatures[0]!;
    assert.notEqual(mark(binding), true, 'a transplanted binding was marked verified');
  });

  it('refuses a self-certification transplanted onto another user ID, and does not mark it', async () => {
    const victim = await rsaKeyWithSigningSubkey('victim');
    const forged = await readKey({ binaryKey: victim.toPublic().write() });
    const other = await rsaKeyWithSigningSubkey('evil');
    const otherPublic = await readKey({ binaryKey: other.toPublic().write() });
    // Give the victim's user the attacker's user ID packet, keeping the victim's certification.
    (forged.users[0] as unknown as { userID: unknown }).userID = otherPublic.users[0]!.userID;
    const ring = await loadKeyring('verifier-public-key-v', forged.write(), nocache());
    const message = await signWith(victim);
    await assert.rejects(
      verifySignedMessage(message, ring),
      (err: unknown) => err instanceof VerifyError && err.code === 'KEY_NOT_VALID',
    );
    assert.notEqual(mark(ring.keys[0]!.users[0]!.selfCertifications[0]!), true);
  });

  it('marks nothing on a non-RSA key (left to openpgp.js) and still verifies it', async () => {
    const { privateKey } = await generateKey({
      type: 'ecc',
      curve: 'nistP256',
      userIDs: [{ name: 'ec' }],
      subkeys: [{ sign: true }],
      date: new Date(Date.now() - 3600 * 1000),
      format: 'object',
    });
    const ring = await loadKeyring(
      'verifier-public-key-e',
      privateKey.toPublic().write(),
      nocache(),
    );
    const marks = [
      ...ring.keys[0]!.users.flatMap((u) => u.selfCertifications),
      ...ring.keys[0]!.subkeys.flatMap((s) => s.bindingSignatures),
    ].map(mark);
    assert.ok(marks.every((m) => m !== true));
    await verifySignedMessage(await signWith(privateKey), ring);
    assert.equal(enums.publicKey.ecdsa, ring.keys[0]!.keyPacket.algorithm);
  });

  it('refuses a signature by a subkey whose binding is valid but revoked (revocation not pre-verified)', async () => {
    const victim = await rsaKeyWithSigningSubkey('victim');
    const message = await signWith(victim); // by the signing subkey, before its revocation
    const revokedSub = await victim.subkeys[0]!.revoke(victim.keyPacket as SecretKeyPacket);
    victim.subkeys[0]!.revocationSignatures.push(...revokedSub.revocationSignatures);
    const revoked = victim;
    const ring = await loadKeyring('verifier-public-key-v', revoked.toPublic().write(), nocache());
    await assert.rejects(
      verifySignedMessage(message, ring),
      (err: unknown) => err instanceof VerifyError && err.code === 'KEY_REVOKED',
    );
  });
});
