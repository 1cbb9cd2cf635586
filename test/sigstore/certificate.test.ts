import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { isVerifyError } from '../../src/errors.js';
import type { CertificateErrorCode } from '../../src/errors.js';
import {
  MAX_CHAIN_CERTIFICATES,
  MAX_CHAIN_PEM_LENGTH,
  parseFulcioRoots,
  parsePkiRoots,
  readCertificateFields,
  verifyFulcioCertificate,
  verifyPkiCertificate,
} from '../../src/sigstore/certificate.js';
import type {
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
    assert.ok(isVerifyError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.area, 'certificate');
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

  it('requires EKUs that allow code signing, as Go checks them along the path', async () => {
    // Go's checkChainForKeyUsage: a certificate listing EKUs must list CodeSigning or
    // anyExtendedKeyUsage; one listing none allows every usage.
    const cases = [
      { codeSigning: 'serverAuth', accepted: false },
      { codeSigning: true, accepted: true },
      { codeSigning: 'any', accepted: true },
      { codeSigning: false, accepted: true },
    ] as const;
    for (const { codeSigning, accepted } of cases) {
      const pem = await leafPem({ codeSigning });
      if (accepted) verifyFulcioCertificate(input(pem));
      else throwsCode(() => verifyFulcioCertificate(input(pem)), 'CERTIFICATE_NOT_CODE_SIGNING');
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
      (err: unknown) => isVerifyError(err, 'CERTIFICATE_ROOTS_INVALID'),
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

    it("matches hostnames as Go's VerifyHostname: one-label wildcards, case, trailing dot, IPs", async () => {
      const leaf = await pki.issueLeaf({
        issuer: pkiIntermediate,
        dnsNames: ['*.example.com', 'Exact.Example.org', 'under_score.example.net'],
        ipAddresses: ['192.0.2.1', '2001:db8::1'],
        notBefore: new Date(now - 3600_000),
        notAfter: new Date(now + 86_400_000),
      });
      const table: readonly (readonly [hostname: string, matches: boolean])[] = [
        ['host.example.com', true],
        ['HOST.Example.COM', true],
        ['host.example.com.', true],
        ['a.b.example.com', false],
        ['example.com', false],
        ['.example.com', false],
        ['host.example.com..', false],
        ['exact.example.org', true],
        ['exact.example.org.', true],
        ['x.exact.example.org', false],
        ['UNDER_score.example.net', true],
        ['192.0.2.1', true],
        ['192.0.2.01', false],
        ['::ffff:192.0.2.1', true],
        ['[2001:db8::1]', true],
        ['2001:DB8:0::1', true],
        ['192.0.2.2', false],
        ['1.example.com.evil', false],
      ];
      for (const [hostname, matches] of table) {
        const verify = () =>
          verifyPkiCertificate({ certificatePem: leaf.certPem, roots: pkiRoots, hostname });
        if (matches) verify();
        else throwsCode(verify, 'CERTIFICATE_SUBJECT_MISMATCH');
      }
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

  describe("path validation as Go's crypto/x509 (containers/image)", () => {
    /** Validity around now, for PKI certificates checked at the current time. */
    const current = {
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 86_400_000),
    };

    function verifyFulcio(
      certificatePem: string,
      anchors: string,
      untrustedChainPem?: string,
      signedEmail = EMAIL,
    ): void {
      verifyFulcioCertificate(
        input(certificatePem, {
          roots: parseFulcioRoots(anchors),
          signedEmail,
          ...(untrustedChainPem !== undefined ? { untrustedChainPem } : {}),
        }),
      );
    }

    function verifyHost(certificatePem: string, caRootsPem: string, hostname: string): void {
      verifyPkiCertificate({ certificatePem, roots: parsePkiRoots(caRootsPem), hostname });
    }

    describe('when a certificate in the path is signed with MD5 or SHA-1', () => {
      it('refuses the leaf (ecdsa-with-SHA1, sha1WithRSAEncryption, md5WithRSAEncryption)', async () => {
        const rsaCa = await pki.makeCa({ subject: '/CN=RSA CA', keyType: 'rsa' });
        const cases = [
          { issuer: intermediate, digest: 'sha1' },
          { issuer: rsaCa, digest: 'sha1' },
          { issuer: rsaCa, digest: 'md5' },
        ] as const;
        for (const { issuer, digest } of cases) {
          const pem = await leafPem({ issuer, digest });
          throwsCode(() => verifyFulcio(pem, issuer.certPem), 'CERTIFICATE_INSECURE_ALGORITHM');
        }
        // The same issuers signing with SHA-2 are fine.
        verifyFulcio(await leafPem({ issuer: rsaCa, digest: 'sha512' }), rsaCa.certPem);
        verifyFulcio(
          await leafPem({ issuer: intermediate, digest: 'sha384' }),
          intermediate.certPem,
        );
      });

      it('refuses an intermediate the root signed with SHA-1', async () => {
        const weak = await pki.makeCa({
          subject: '/CN=SHA-1 intermediate',
          issuer: root,
          digest: 'sha1',
        });
        const pem = await leafPem({ issuer: weak });
        throwsCode(
          () => verifyFulcio(pem, root.certPem, weak.certPem + root.certPem),
          'CERTIFICATE_INSECURE_ALGORITHM',
        );
        throwsCode(
          () =>
            verifyPkiCertificate({
              certificatePem: pem,
              roots: parsePkiRoots(root.certPem, weak.certPem),
              email: EMAIL,
              at: LEAF_INTEGRATED_TIME,
            }),
          'CERTIFICATE_INSECURE_ALGORITHM',
        );
      });

      it("accepts a SHA-1 self-signed root: an anchor's own signature is never checked", async () => {
        const sha1Root = await pki.makeCa({ subject: '/CN=SHA-1 root', digest: 'sha1' });
        verifyFulcio(await leafPem({ issuer: sha1Root }), sha1Root.certPem);
      });
    });

    describe('when a CA has a pathLenConstraint', () => {
      it('refuses a pathLen 0 root above an intermediate, and lets it issue leaves', async () => {
        const pathLen0 = await pki.makeCa({ subject: '/CN=pathlen0 root', pathLen: 0 });
        const below = await pki.makeCa({ subject: '/CN=below pathlen0', issuer: pathLen0 });
        const pem = await leafPem({ issuer: below });
        throwsCode(
          () => verifyFulcio(pem, pathLen0.certPem, below.certPem + pathLen0.certPem),
          'CERTIFICATE_PATH_LENGTH',
        );
        verifyFulcio(await leafPem({ issuer: pathLen0 }), pathLen0.certPem);
      });

      it('counts every intermediate below the constraining CA, root or intermediate', async () => {
        const pathLen1 = await pki.makeCa({ subject: '/CN=pathlen1 root', pathLen: 1 });
        const first = await pki.makeCa({ subject: '/CN=first', issuer: pathLen1 });
        const second = await pki.makeCa({ subject: '/CN=second', issuer: first });
        const shallow = await leafPem({ issuer: first });
        verifyFulcio(shallow, pathLen1.certPem, first.certPem + pathLen1.certPem);
        const deep = await leafPem({ issuer: second });
        const deepChain = second.certPem + first.certPem + pathLen1.certPem;
        throwsCode(
          () => verifyFulcio(deep, pathLen1.certPem, deepChain),
          'CERTIFICATE_PATH_LENGTH',
        );
        const limited = await pki.makeCa({ subject: '/CN=limited', issuer: root, pathLen: 0 });
        const under = await pki.makeCa({ subject: '/CN=under limited', issuer: limited });
        const underLeaf = await leafPem({ issuer: under });
        const underChain = under.certPem + limited.certPem + root.certPem;
        throwsCode(
          () => verifyFulcio(underLeaf, root.certPem, underChain),
          'CERTIFICATE_PATH_LENGTH',
        );
      });
    });

    describe('when a CA has nameConstraints', () => {
      for (const critical of [true, false]) {
        describe(`marked ${critical ? 'critical' : 'non-critical'}`, () => {
          it('accepts names inside the permitted subtrees and refuses any other', async () => {
            const ca = await pki.makeCa({
              subject: `/CN=permitting ${critical}`,
              nameConstraints: {
                critical,
                permitted: ['email:example.com', 'DNS:.example.com', 'IP:10.0.0.0/255.0.0.0'],
              },
            });
            verifyFulcio(await leafPem({ issuer: ca }), ca.certPem);
            // A domain constraint covers subdomains too (Go's semantics, unlike RFC 5280's).
            const sub = 'release@ci.example.com';
            verifyFulcio(await leafPem({ issuer: ca, emails: [sub] }), ca.certPem, undefined, sub);
            // Every SAN is checked, not only the one the policy names.
            const mixed = await leafPem({ issuer: ca, emails: [EMAIL, 'release@example.org'] });
            throwsCode(() => verifyFulcio(mixed, ca.certPem), 'CERTIFICATE_NAME_CONSTRAINTS');
            // ".example.com" needs a label before it.
            const apex = await pki.issueLeaf({
              issuer: ca,
              dnsNames: ['signer.example.com', 'example.com'],
              ...current,
            });
            throwsCode(
              () => verifyHost(apex.certPem, ca.certPem, 'signer.example.com'),
              'CERTIFICATE_NAME_CONSTRAINTS',
            );
            const inside = await pki.issueLeaf({
              issuer: ca,
              dnsNames: ['signer.example.com'],
              ipAddresses: ['10.1.2.3'],
              ...current,
            });
            verifyHost(inside.certPem, ca.certPem, '10.1.2.3');
            const outside = await pki.issueLeaf({
              issuer: ca,
              ipAddresses: ['11.1.2.3'],
              ...current,
            });
            throwsCode(
              () => verifyHost(outside.certPem, ca.certPem, '11.1.2.3'),
              'CERTIFICATE_NAME_CONSTRAINTS',
            );
          });

          it('refuses names inside the excluded subtrees', async () => {
            const ca = await pki.makeCa({
              subject: `/CN=excluding ${critical}`,
              nameConstraints: {
                critical,
                excluded: [`email:${EMAIL}`, 'DNS:.evil.example', 'DNS:one.bad.example'],
              },
            });
            const excludedEmail = await leafPem({ issuer: ca });
            throwsCode(
              () => verifyFulcio(excludedEmail, ca.certPem),
              'CERTIFICATE_NAME_CONSTRAINTS',
            );
            // The domain of a mailbox is compared case-insensitively, the local part is not.
            const upperDomain = 'release@EXAMPLE.com';
            const shouting = await leafPem({ issuer: ca, emails: [upperDomain] });
            throwsCode(
              () => verifyFulcio(shouting, ca.certPem, undefined, upperDomain),
              'CERTIFICATE_NAME_CONSTRAINTS',
            );
            const otherLocal = 'Release@example.com';
            const other = await leafPem({ issuer: ca, emails: [otherLocal] });
            verifyFulcio(other, ca.certPem, undefined, otherLocal);
            const table: readonly (readonly [san: string, hostname: string, ok: boolean])[] = [
              ['host.evil.example', 'host.evil.example', false],
              ['evil.example', 'evil.example', true],
              // A wildcard whose parent holds an excluded name is excluded with it.
              ['*.bad.example', 'two.bad.example', false],
              ['two.bad.example', 'two.bad.example', true],
            ];
            for (const [san, hostname, ok] of table) {
              const leaf = await pki.issueLeaf({ issuer: ca, dnsNames: [san], ...current });
              if (ok) verifyHost(leaf.certPem, ca.certPem, hostname);
              else {
                throwsCode(
                  () => verifyHost(leaf.certPem, ca.certPem, hostname),
                  'CERTIFICATE_NAME_CONSTRAINTS',
                );
              }
            }
          });
        });
      }

      it('applies them to the SANs of every certificate below, intermediates included', async () => {
        const top = await pki.makeCa({
          subject: '/CN=constrained top',
          nameConstraints: { critical: true, permitted: ['DNS:example.com'] },
        });
        const named = await pki.makeCa({
          subject: '/CN=named intermediate',
          issuer: top,
          extraExtensions: ['subjectAltName=DNS:ca.example.org'],
        });
        const leaf = await pki.issueLeaf({
          issuer: named,
          dnsNames: ['signer.example.com'],
          ...current,
        });
        throwsCode(
          () =>
            verifyPkiCertificate({
              certificatePem: leaf.certPem,
              roots: parsePkiRoots(top.certPem, named.certPem),
              hostname: 'signer.example.com',
            }),
          'CERTIFICATE_NAME_CONSTRAINTS',
        );
      });

      it('refuses critical constraints of a name type Go does not read, ignores them otherwise', async () => {
        for (const critical of [true, false]) {
          const ca = await pki.makeCa({
            subject: `/CN=directory constraints ${critical}`,
            nameConstraints: { critical, permitted: ['dirName:constrained_dn'] },
            extraExtensions: ['[constrained_dn]', 'CN=Somebody'],
          });
          const pem = await leafPem({ issuer: ca });
          if (critical) {
            throwsCode(() => verifyFulcio(pem, ca.certPem), 'CERTIFICATE_UNSUPPORTED_EXTENSION');
          } else {
            verifyFulcio(pem, ca.certPem);
          }
        }
      });

      it('does not check a leaf without SANs, which then matches no subject', async () => {
        const ca = await pki.makeCa({
          subject: '/CN=constrained, no SAN',
          nameConstraints: { critical: true, permitted: ['DNS:example.org'] },
        });
        const bare = await pki.issueLeaf({
          issuer: ca,
          subject: '/CN=signer.example.com',
          ...current,
        });
        // Go ignores the subject CN: no SAN, no hostname match.
        throwsCode(
          () => verifyHost(bare.certPem, ca.certPem, 'signer.example.com'),
          'CERTIFICATE_SUBJECT_MISMATCH',
        );
      });
    });

    describe('when an issuer may not sign certificates', () => {
      it("refuses an intermediate whose keyUsage lacks keyCertSign (Go's CheckSignatureFrom)", async () => {
        const noCertSign = await pki.makeCa({
          subject: '/CN=no keyCertSign',
          issuer: root,
          keyUsage: 'critical,digitalSignature',
        });
        const pem = await leafPem({ issuer: noCertSign });
        throwsCode(
          () => verifyFulcio(pem, root.certPem, noCertSign.certPem + root.certPem),
          'CERTIFICATE_NOT_CA',
        );
        // Without a keyUsage extension it may sign.
        const noKeyUsage = await pki.makeCa({
          subject: '/CN=no keyUsage',
          issuer: root,
          keyUsage: false,
        });
        verifyFulcio(
          await leafPem({ issuer: noKeyUsage }),
          root.certPem,
          noKeyUsage.certPem + root.certPem,
        );
      });

      it('refuses an intermediate without CA:TRUE (CA:FALSE, no basicConstraints, or v1)', async () => {
        for (const options of [
          { basicConstraints: 'notCa' },
          { basicConstraints: 'absent' },
          { version1: true },
        ] as const) {
          const ca = await pki.makeCa({ subject: '/CN=not a CA', issuer: root, ...options });
          const pem = await leafPem({ issuer: ca });
          throwsCode(
            () => verifyFulcio(pem, root.certPem, ca.certPem + root.certPem),
            'CERTIFICATE_NOT_CA',
          );
        }
      });

      it('accepts a v1 root without basicConstraints as anchor, not a v3 one', async () => {
        const v1 = await pki.makeCa({ subject: '/CN=v1 root', version1: true });
        verifyFulcio(await leafPem({ issuer: v1 }), v1.certPem);
        const v3 = await pki.makeCa({ subject: '/CN=v3 root', basicConstraints: 'absent' });
        const pem = await leafPem({ issuer: v3 });
        throwsCode(() => verifyFulcio(pem, v3.certPem), 'CERTIFICATE_NOT_CA');
      });
    });

    describe('when CAs in the path list EKUs', () => {
      it('requires CodeSigning (or anyExtendedKeyUsage) in each list, the root included', async () => {
        const table: readonly (readonly [eku: string, ok: boolean])[] = [
          ['serverAuth', false],
          ['serverAuth,codeSigning', true],
          ['anyExtendedKeyUsage', true],
        ];
        for (const [extendedKeyUsage, ok] of table) {
          const ca = await pki.makeCa({ subject: `/CN=EKU ${extendedKeyUsage}`, extendedKeyUsage });
          const pem = await leafPem({ issuer: ca });
          if (ok) verifyFulcio(pem, ca.certPem);
          else throwsCode(() => verifyFulcio(pem, ca.certPem), 'CERTIFICATE_NOT_CODE_SIGNING');
        }
      });
    });

    describe('when a certificate has critical extensions', () => {
      it('refuses one Go does not handle anywhere in the path', async () => {
        const unknown = '1.2.3.4=critical,ASN1:NULL';
        const odd = await pki.makeCa({
          subject: '/CN=odd intermediate',
          issuer: root,
          extraExtensions: [unknown],
        });
        const pem = await leafPem({ issuer: odd });
        throwsCode(
          () => verifyFulcio(pem, root.certPem, odd.certPem + root.certPem),
          'CERTIFICATE_UNSUPPORTED_EXTENSION',
        );
        const oddRoot = await pki.makeCa({ subject: '/CN=odd root', extraExtensions: [unknown] });
        const fromOddRoot = await leafPem({ issuer: oddRoot });
        throwsCode(
          () => verifyFulcio(fromOddRoot, oddRoot.certPem),
          'CERTIFICATE_UNSUPPORTED_EXTENSION',
        );
      });

      it('overlooks a critical SAN without names Go reads for Fulcio only, as containers/image does', async () => {
        const otherName = 'subjectAltName=critical,otherName:1.3.6.1.4.1.57264.1.7;UTF8:someone';
        const fulcioLeaf = await leafPem({ emails: [], extraExtensions: [otherName] });
        // The path is fine; no email SAN matches.
        throwsCode(
          () => verifyFulcioCertificate(input(fulcioLeaf)),
          'CERTIFICATE_SUBJECT_MISMATCH',
        );
        const pkiLeaf = await pki.issueLeaf({
          issuer: root,
          extraExtensions: [otherName],
          ...current,
        });
        throwsCode(
          () => verifyHost(pkiLeaf.certPem, root.certPem, 'someone'),
          'CERTIFICATE_UNSUPPORTED_EXTENSION',
        );
      });
    });

    describe('when a CA requires explicit certificate policies', () => {
      it('accepts a path whose certificates carry the policy and refuses one that does not', async () => {
        const strict = await pki.makeCa({
          subject: '/CN=explicit policy',
          issuer: root,
          extraExtensions: [
            'certificatePolicies=1.3.6.1.4.1.99999.1',
            'policyConstraints=requireExplicitPolicy:0',
          ],
        });
        const chain = strict.certPem + root.certPem;
        const withPolicy = await leafPem({
          issuer: strict,
          extraExtensions: ['certificatePolicies=1.3.6.1.4.1.99999.1'],
        });
        verifyFulcio(withPolicy, root.certPem, chain);
        for (const extraExtensions of [[], ['certificatePolicies=1.3.6.1.4.1.99999.2']]) {
          const pem = await leafPem({ issuer: strict, extraExtensions });
          throwsCode(() => verifyFulcio(pem, root.certPem, chain), 'CERTIFICATE_POLICY_INVALID');
        }
      });
    });

    describe('when the certificate annotation is read as Go reads it', () => {
      it('refuses text after the PEM block (Go: error during PEM decoding)', async () => {
        const pem = await leafPem();
        throwsCode(
          () => verifyFulcio(`${pem}junk`, root.certPem, intermediate.certPem + root.certPem),
          'CERTIFICATE_INVALID',
        );
        verifyFulcio(`${pem}\n\n`, root.certPem, intermediate.certPem + root.certPem);
      });

      it('refuses a negative serial number (Go 1.23+ x509negativeserial)', async () => {
        const der = Buffer.from(new X509Certificate(await leafPem()).raw);
        // certificate → tbsCertificate → [0] version → serialNumber INTEGER: set its sign bit.
        const serialAt = der.indexOf(Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02, 0x02])) + 6;
        assert.ok(serialAt > 6);
        const length = der[serialAt]!;
        assert.ok(length < 0x80);
        der[serialAt + 1] = der[serialAt + 1]! | 0x80;
        const negative = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
        assert.throws(
          () => verifyFulcio(negative, root.certPem, intermediate.certPem + root.certPem),
          (err: unknown) =>
            isVerifyError(err, 'CERTIFICATE_INVALID') && /negative serial/.test(err.message),
        );
      });
    });

    describe('when the chain annotation carries intermediates', () => {
      it('uses them to reach a configured root', async () => {
        const pem = await leafPem();
        throwsCode(() => verifyFulcio(pem, root.certPem), 'CERTIFICATE_UNTRUSTED');
        verifyFulcio(pem, root.certPem, intermediate.certPem + root.certPem);
        // The same for PKI, added to the configured intermediates.
        verifyPkiCertificate({
          certificatePem: pem,
          roots: parsePkiRoots(root.certPem),
          untrustedChainPem: intermediate.certPem + root.certPem,
          email: EMAIL,
          at: LEAF_INTEGRATED_TIME,
        });
      });

      it("never uses the last certificate, the signer's claimed root", async () => {
        const pem = await leafPem();
        // The intermediate alone is the last (so unused) certificate.
        throwsCode(
          () => verifyFulcio(pem, root.certPem, intermediate.certPem),
          'CERTIFICATE_UNTRUSTED',
        );
        // A self-made root at the end, under the real root's name, is not an anchor.
        const madeRoot = await pki.makeCa({ subject: '/O=sigstore.dev/CN=sigstore' });
        const madeIntermediate = await pki.makeCa({
          subject: '/O=sigstore.dev/CN=sigstore-intermediate',
          issuer: madeRoot,
        });
        const forged = await leafPem({ issuer: madeIntermediate });
        throwsCode(
          () => verifyFulcio(forged, root.certPem, madeIntermediate.certPem + madeRoot.certPem),
          'CERTIFICATE_UNTRUSTED',
        );
      });

      it('does not trust a complete chain whose root is not configured', async () => {
        const otherRoot = await pki.makeCa({ subject: '/O=Other/CN=Other Root' });
        const pem = await leafPem();
        throwsCode(
          () => verifyFulcio(pem, otherRoot.certPem, intermediate.certPem + root.certPem),
          'CERTIFICATE_UNTRUSTED',
        );
      });

      it('refuses a malformed annotation, as containers/image does', async () => {
        const pem = await leafPem();
        const chain = intermediate.certPem + root.certPem;
        const bad = [
          `${chain}junk`,
          '\n',
          `${intermediate.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
          `${intermediate.certPem}-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n`,
          intermediate.certPem.repeat(MAX_CHAIN_CERTIFICATES + 1),
          `${' '.repeat(MAX_CHAIN_PEM_LENGTH)}${chain}`,
        ];
        for (const untrustedChainPem of bad) {
          throwsCode(
            () => verifyFulcio(pem, root.certPem, untrustedChainPem),
            'CERTIFICATE_CHAIN_INVALID',
          );
        }
        // Text before the blocks is skipped, as Go's pem.Decode skips it, and whitespace after
        // the last one is trimmed (a hand-made chain file ending in a blank line; the review's
        // differential run against containers/image found we refused it); empty means none.
        verifyFulcio(pem, root.certPem, `cosign chain\n${chain}`);
        verifyFulcio(pem, root.certPem, `${chain}\n\n`);
        verifyFulcio(pem, root.certPem + intermediate.certPem, '');
      });
    });
  });
});
