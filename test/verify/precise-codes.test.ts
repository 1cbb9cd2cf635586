/**
 * Codes that used to be squeezed into the GPG/store codes (a registry's 403 became STORE_ERROR,
 * a 500 STORE_ERROR, a missing platform STORE_ERROR) now reach the verdict and its condition
 * reason whole, and the decisions made from them are unchanged.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { toConditionReason } from '../../src/errors.js';
import { parseReleasePullspec } from '../../src/image/pullspec.js';
import { verifyComponents } from '../../src/payload/payload-verifier.js';
import { validatePolicyObject } from '../../src/policy/validate.js';
import { RegistryClient } from '../../src/registry/client.js';
import { verifyRelease } from '../../src/verify/release-verifier.js';
import { publicKeyPem, publicKeyPolicy } from '../policy/policy-fixtures.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('registry failures reach the verdict with their own code', () => {
  let server: Server;
  let host: string;
  let status = 403;

  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'no' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const sigstore = () => ({
    policies: [
      validatePolicyObject(publicKeyPolicy(publicKeyPem(), { scopes: [`${host}/ns`] }), 'test'),
    ],
    client: new RegistryClient({ retries: 0 }),
  });

  const table: [status: number, code: string, reason: string][] = [
    [403, 'DENIED', 'RegistryDenied'],
    [500, 'HTTP_STATUS', 'RegistryUnexpectedStatus'],
  ];
  for (const [answer, code, reason] of table) {
    it(`a registry answering ${String(answer)}: ${code} (was STORE_ERROR), reason ${reason}`, async () => {
      status = answer;
      const verdict = await verifyRelease(`${host}/ns/release@${DIGEST}`, { sigstore: sigstore() });
      assert.equal(verdict.verified, false);
      assert.equal(verdict.code, code);
      assert.equal(verdict.checks[0]?.code, code);
      assert.equal(toConditionReason(verdict.code), reason);
    });

    it(`a component on a registry answering ${String(answer)} is still an ERROR, not INVALID`, async () => {
      status = answer;
      const [result] = await verifyComponents(
        [{ pullspec: parseReleasePullspec(`${host}/ns/etcd@${DIGEST}`), tags: ['etcd'] }],
        { ...sigstore(), signal: AbortSignal.timeout(10_000) },
      );
      assert.equal(result?.status, 'error');
      assert.equal(result?.checks[0]?.code, code);
    });
  }
});
