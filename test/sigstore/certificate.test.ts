import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import {
  isCertificateError,
  parseFulcioRoots,
  parsePkiRoots,
  readCertificateFields,
  verifyFulcioCertificate,
  verifyPkiCertificate,
} from '../../src/sigstore/certificate.js';
import type {
  CertificateErrorCode,
  CertificateRoots,
  VerifyFulcioCertificateInput,
} from '../../src/sigstore/certificate.js';
import {
  FulcioTestPki,
  LEAF_INTEGRATED_TIME,
  LEAF_NOT_AFTER,
  LEAF_NOT_BEFORE,
} from '../helpers/fulcio.js';
import type { LeafOptions, TestCa } from '../helpers/fulcio.js';

const ISSUER = 'https://accounts.example.com';
const EMAIL = 'release@example.com';

function throwsCode(fn: () => unknown, code: CertificateErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isCertificateError(err), String(err));
    assert.equal(err.certificateCode, code, err.message);
    return true;
  });
}

describe('Fulcio and PKI certificate verification (openssl-minted certificates)', () => {
  let pki: FulcioTestPki;
  let root: TestCa;
  let intermediate: TestCa;
  let roots: CertificateRoots;

  before(async () => {
    pki = await FulcioTestPki.create();
    root = await pki.makeCa({ subject: '/O=sigstore.dev/CN=sigstore' });
    intermediate = await pki.makeCa({
      subject: '/O=sigstore.dev/CN=sigstore-intermediate',
      issuer: root,
      codeSigningEku: true,
    });
    roots = parseFulcioRoots(root.certPem + intermediate.certPem);
  });

  after(async () => {
    await pki.cleanup();
  });

  async function leafPem(options: Partial<LeafOptions> = {}): Promise<string> {
    const leaf = await pki.issueLeaf({
      issuer: intermediate,
      emails: [EMAIL],
      issuerV1: ISSUER,
      issuerV2: ISSUER,
      ...options,
    });
    return leaf.certPem;
  }

  function input(
    certificatePem: string,
    extra: Partial<VerifyFulcioCertificateInput> = {},
  ): VerifyFulcioCertificateInput {
    return {
      certificatePem,
      roots,
      oidcIssuer: ISSUER,
      signedEmail: EMAIL,
      integratedTime: LEAF_INTEGRATED_TIME,
      ...extra,
    };
  }

  it('accepts a valid leaf at integratedTime although it is expired now', async () => {
    assert.ok(Date.now() > LEAF_NOT_AFTER.getTime());
    const leaf = await pki.issueLeaf({
      issuer: intermediate,
      emails: ['other@example.com', EMAIL],
      issuerV1: ISSUER,
      issuerV2: ISSUER,
    });
    const verified = verifyFulcioCertificate(input(leaf.certPem));
    assert.ok(verified.key.spki.equals(leaf.key.publicKey.export({ format: 'der', type: 'spki' })));
    assert.equal(verified.oidcIssuer, ISSUER);
    assert.deepEqual(verified.emails, ['other@example.com', EMAIL]);
  });

  it('reads the Fulcio fields by hand', async () => {
    const fields = readCertificateFields(new X509Certificate(await leafPem()));
    assert.equal(fields.notBefore, LEAF_NOT_BEFORE.getTime());
    assert.equal(fields.notAfter, LEAF_NOT_AFTER.getTime());
    assert.equal(fields.isCa, false);
    assert.deepEqual(fields.extendedKeyUsages, ['1.3.6.1.5.5.7.3.3']);
    assert.deepEqual(fields.emails, [EMAIL]);
    assert.equal(fields.issuerV1, ISSUER);
    assert.equal(fields.issuerV2, ISSUER);
    assert.deepEqual(fields.unsupportedCritical, []);
  });

  it('accepts either issuer extension alone', async () => {
    verifyFulcioCertificate(input(await leafPem({ issuerV2: undefined })));
    verifyFulcioCertificate(input(await leafPem({ issuerV1: undefined })));
  });

  it('checks validity of the whole path at integratedTime, not now', async () => {
    const pem = await leafPem();
    const notAfter = LEAF_NOT_AFTER.getTime() / 1000;
    const notBefore = LEAF_NOT_BEFORE.getTime() / 1000;
    verifyFulcioCertificate(input(pem, { integratedTime: notAfter }));
    verifyFulcioCertificate(input(pem, { integratedTime: notBefore }));
    throwsCode(
      () => verifyFulcioCertificate(input(pem, { integratedTime: notAfter + 1 })),
      'CERTIFICATE_EXPIRED',
    );
    throwsCode(
      () => verifyFulcioCertificate(input(pem, { integratedTime: notBefore - 1 })),
      'CERTIFICATE_NOT_YET_VALID',
    );
    // A CA expired at integratedTime fails the path as well.
    const shortRoot = await pki.makeCa({
      subject: '/CN=short-root',
      notAfter: new Date('2025-01-01T00:01:00Z'),
    });
    const shortLeaf = await leafPem({ issuer: shortRoot });
    throwsCode(
      () =>
        verifyFulcioCertificate(input(shortLeaf, { roots: parseFulcioRoots(shortRoot.certPem) })),
      'CERTIFICATE_EXPIRED',
    );
  });

  it('rejects a leaf from a forged intermediate that is not in the configured bundle', async () => {
    // Same names as the real CAs, other keys: only the configured certificates count.
    const attackerRoot = await pki.makeCa({ subject: '/O=sigstore.dev/CN=sigstore' });
    const forged = await pki.makeCa({
      subject: '/O=sigstore.dev/CN=sigstore-intermediate',
      issuer: attackerRoot,
      codeSigningEku: true,
    });
    const selfSigned = await pki.makeCa({
      subject: '/O=sigstore.dev/CN=sigstore-intermediate',
      codeSigningEku: true,
    });
    for (const ca of [forged, selfSigned]) {
      const pem = await leafPem({ issuer: ca });
      throwsCode(() => verifyFulcioCertificate(input(pem)), 'CERTIFICATE_UNTRUSTED');
      // Nor is a CA certificate presented as the signing certificate trusted.
      throwsCode(() => verifyFulcioCertificate(input(ca.certPem)), 'CERTIFICATE_UNTRUSTED');
    }
  });

  it('requires the CodeSigning EKU', async () => {
    for (const codeSigning of [false, 'serverAuth'] as const) {
      const pem = await leafPem({ codeSigning });
      throwsCode(() => verifyFulcioCertificate(input(pem)), 'CERTIFICATE_NOT_CODE_SIGNING');
    }
  });

  it('requires the configured OIDC issuer, exactly', async () => {
    for (const options of [
      { issuerV1: 'https://evil.example', issuerV2: 'https://evil.example' },
      { issuerV1: undefined, issuerV2: undefined },
      { issuerV1: undefined, issuerV2: `${ISSUER}.evil` },
      { issuerV1: `${ISSUER}/`, issuerV2: undefined },
    ]) {
      const pem = await leafPem(options);
      throwsCode(() => verifyFulcioCertificate(input(pem)), 'CERTIFICATE_ISSUER_MISMATCH');
    }
  });

  it('refuses unknown critical extensions and accepts unknown non-critical ones', async () => {
    const critical = await leafPem({ extraExtensions: ['1.2.3.4=critical,ASN1:NULL'] });
    throwsCode(() => verifyFulcioCertificate(input(critical)), 'CERTIFICATE_UNSUPPORTED_EXTENSION');
    verifyFulcioCertificate(input(await leafPem({ extraExtensions: ['1.2.3.4=ASN1:NULL'] })));
  });

  it('rejects issuer extensions that disagree', async () => {
    const pem = await leafPem({ issuerV1: ISSUER, issuerV2: 'https://evil.example' });
    throwsCode(() => verifyFulcioCertificate(input(pem)), 'CERTIFICATE_ISSUER_CONFLICT');
    const reversed = await leafPem({ issuerV1: 'https://evil.example', issuerV2: ISSUER });
    throwsCode(() => verifyFulcioCertificate(input(reversed)), 'CERTIFICATE_ISSUER_CONFLICT');
  });

  it('requires an email SAN equal to signedEmail (no substring, superstring or case folding)', async () => {
    for (const emails of [
      [`${EMAIL}.evil`],
      [`x${EMAIL}`],
      ['Release@example.com'],
      ['release@example.co'],
      [],
    ]) {
      const pem = await leafPem({ emails });
      throwsCode(() => verifyFulcioCertificate(input(pem)), 'CERTIFICATE_SUBJECT_MISMATCH');
    }
    // A DNS SAN spelling the email does not count either.
    const dns = await leafPem({ emails: [], dnsNames: ['release.example.com'] });
    throwsCode(
      () => verifyFulcioCertificate(input(dns, { signedEmail: 'release.example.com' })),
      'CERTIFICATE_SUBJECT_MISMATCH',
    );
  });

  it('refuses malformed annotations and bundles', async () => {
    const pem = await leafPem();
    throwsCode(() => verifyFulcioCertificate(input('not a certificate')), 'CERTIFICATE_INVALID');
    throwsCode(() => verifyFulcioCertificate(input(pem + pem)), 'CERTIFICATE_INVALID');
    const der = new X509Certificate(pem).raw;
    const toPem = (bytes: Buffer): string =>
      `-----BEGIN CERTIFICATE-----\n${bytes.toString('base64')}\n-----END CERTIFICATE-----\n`;
    throwsCode(
      () => verifyFulcioCertificate(input(toPem(der.subarray(0, der.length - 1)))),
      'CERTIFICATE_INVALID',
    );
    // A byte of the signature changed: still a certificate, no longer issued by the CA.
    const tampered = Buffer.from(der);
    tampered[tampered.length - 3] = (tampered[tampered.length - 3] ?? 0) ^ 0x01;
    throwsCode(() => verifyFulcioCertificate(input(toPem(tampered))), 'CERTIFICATE_UNTRUSTED');
    throwsCode(() => parseFulcioRoots(''), 'CERTIFICATE_ROOTS_INVALID');
    throwsCode(() => parseFulcioRoots(`junk\n${root.certPem}`), 'CERTIFICATE_ROOTS_INVALID');
    assert.throws(
      () => parseFulcioRoots('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'),
      (err: unknown) => isVerifyError(err, 'ROOT_OF_TRUST_INVALID'),
    );
  });

  describe('PKI', () => {
    let pkiRoot: TestCa;
    let pkiIntermediate: TestCa;
    let pkiRoots: CertificateRoots;
    let hostLeaf: string;
    const now = Date.now();

    before(async () => {
      pkiRoot = await pki.makeCa({ subject: '/O=Example/CN=Example Root' });
      pkiIntermediate = await pki.makeCa({
        subject: '/O=Example/CN=Example Signing',
        issuer: pkiRoot,
      });
      pkiRoots = parsePkiRoots(pkiRoot.certPem, pkiIntermediate.certPem);
      hostLeaf = (
        await pki.issueLeaf({
          issuer: pkiIntermediate,
          dnsNames: ['signer.example.com'],
          emails: ['signer@example.com'],
          notBefore: new Date(now - 3600_000),
          notAfter: new Date(now + 86_400_000),
        })
      ).certPem;
    });

    it('verifies a hostname and an email subject exactly', () => {
      const verified = verifyPkiCertificate({
        certificatePem: hostLeaf,
        roots: pkiRoots,
        hostname: 'signer.example.com',
      });
      assert.deepEqual(verified.dnsNames, ['signer.example.com']);
      verifyPkiCertificate({
        certificatePem: hostLeaf,
        roots: pkiRoots,
        hostname: 'SIGNER.example.com',
      });
      verifyPkiCertificate({
        certificatePem: hostLeaf,
        roots: pkiRoots,
        email: 'signer@example.com',
        hostname: 'signer.example.com',
      });
      for (const subject of [
        { hostname: 'example.com' },
        { hostname: 'signer.example.com.evil' },
        { hostname: 'evil.signer.example.com' },
        { email: 'signer@example.com.evil' },
        { email: 'signer@example.com', hostname: 'other.example.com' },
      ]) {
        throwsCode(
          () => verifyPkiCertificate({ certificatePem: hostLeaf, roots: pkiRoots, ...subject }),
          'CERTIFICATE_SUBJECT_MISMATCH',
        );
      }
      throwsCode(
        () => verifyPkiCertificate({ certificatePem: hostLeaf, roots: pkiRoots }),
        'CERTIFICATE_ROOTS_INVALID',
      );
    });

    it('does not expand wildcard DNS SANs', async () => {
      const wildcard = await pki.issueLeaf({
        issuer: pkiIntermediate,
        dnsNames: ['*.example.com'],
        notBefore: new Date(now - 3600_000),
        notAfter: new Date(now + 86_400_000),
      });
      throwsCode(
        () =>
          verifyPkiCertificate({
            certificatePem: wildcard.certPem,
            roots: pkiRoots,
            hostname: 'signer.example.com',
          }),
        'CERTIFICATE_SUBJECT_MISMATCH',
      );
    });

    it('uses configured intermediates only', () => {
      throwsCode(
        () =>
          verifyPkiCertificate({
            certificatePem: hostLeaf,
            roots: parsePkiRoots(pkiRoot.certPem),
            hostname: 'signer.example.com',
          }),
        'CERTIFICATE_UNTRUSTED',
      );
      // Another PKI's root does not vouch for it.
      throwsCode(
        () =>
          verifyPkiCertificate({
            certificatePem: hostLeaf,
            roots: parsePkiRoots(root.certPem, intermediate.certPem),
            hostname: 'signer.example.com',
          }),
        'CERTIFICATE_UNTRUSTED',
      );
    });

    it('checks validity now unless given a time', async () => {
      const old = await pki.issueLeaf({
        issuer: pkiIntermediate,
        dnsNames: ['signer.example.com'],
      });
      throwsCode(
        () =>
          verifyPkiCertificate({
            certificatePem: old.certPem,
            roots: pkiRoots,
            hostname: 'signer.example.com',
          }),
        'CERTIFICATE_EXPIRED',
      );
      verifyPkiCertificate({
        certificatePem: old.certPem,
        roots: pkiRoots,
        hostname: 'signer.example.com',
        at: LEAF_INTEGRATED_TIME,
      });
    });
  });
});
