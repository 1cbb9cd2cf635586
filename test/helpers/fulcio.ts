import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createTestKey } from './cosign.js';
import type { TestKey, TestKeyKind } from './cosign.js';

/** Fulcio's issuer extensions: v1 holds the raw issuer bytes, v2 a DER UTF8String. */
export const FULCIO_ISSUER_V1_OID = '1.3.6.1.4.1.57264.1.1';
export const FULCIO_ISSUER_V2_OID = '1.3.6.1.4.1.57264.1.8';

/** Default validity of test CAs: wide enough for every integratedTime the tests use. */
export const CA_NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
export const CA_NOT_AFTER = new Date('2040-01-01T00:00:00Z');
/** Fulcio leaves live ten minutes; the default leaf is long expired now. */
export const LEAF_NOT_BEFORE = new Date('2025-01-01T00:00:00Z');
export const LEAF_NOT_AFTER = new Date('2025-01-01T00:10:00Z');
/** A Rekor integration time inside the default leaf's validity (unix seconds). */
export const LEAF_INTEGRATED_TIME = Math.floor(LEAF_NOT_BEFORE.getTime() / 1000) + 300;

const CA_CONFIG = [
  '[ca]',
  'default_ca = test',
  '[test]',
  'database = index.txt',
  'serial = serial',
  'new_certs_dir = .',
  'default_md = sha256',
  'policy = anything',
  'unique_subject = no',
  'copy_extensions = none',
  'email_in_dn = no',
  '[anything]',
  'commonName = optional',
  'organizationName = optional',
  '',
].join('\n');

/** A CA made by {@link FulcioTestPki.makeCa}: its PEM and where its key lives. */
export interface TestCa {
  readonly certPem: string;
  readonly keyPath: string;
  readonly certPath: string;
  /** A v1 certificate has no subject key identifier for its children to name. */
  readonly version1?: boolean;
}

/** The digest the issuer signs a certificate with (`openssl ca -md`). */
export type SignatureDigest = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** A nameConstraints extension, subtrees in openssl syntax (`email:.example.com`, `DNS:…`). */
export interface NameConstraintsOptions {
  readonly critical: boolean;
  readonly permitted?: readonly string[];
  readonly excluded?: readonly string[];
}

export interface CaOptions {
  readonly subject: string;
  /** The issuing CA; absent → self-signed. */
  readonly issuer?: TestCa;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Adds extendedKeyUsage=codeSigning (as Fulcio's intermediate has). */
  readonly codeSigningEku?: boolean;
  /** Another extendedKeyUsage value (openssl syntax, e.g. `serverAuth`); wins over the above. */
  readonly extendedKeyUsage?: string;
  /** Default P-256; MD5 signatures need an RSA issuer. Ignored when `key` is given. */
  readonly keyType?: TestKeyKind;
  /** Reuse a key (e.g. to cross-sign the same CA). */
  readonly key?: TestKey;
  /** Default sha256. */
  readonly digest?: SignatureDigest;
  /** Default `CA:TRUE` (critical); `notCa` writes CA:FALSE, `absent` leaves it out. */
  readonly basicConstraints?: 'ca' | 'notCa' | 'absent';
  /** basicConstraints pathLenConstraint. */
  readonly pathLen?: number;
  /** keyUsage in openssl syntax; default `critical,keyCertSign,cRLSign`; false: none. */
  readonly keyUsage?: string | false;
  readonly nameConstraints?: NameConstraintsOptions;
  /** More openssl extension lines. */
  readonly extraExtensions?: readonly string[];
  /** No extensions at all, which makes `openssl ca` write an X.509 v1 certificate. */
  readonly version1?: boolean;
}

export interface LeafOptions {
  readonly issuer: TestCa;
  readonly emails?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** Raw bytes of the v1 issuer extension (omitted when undefined). */
  readonly issuerV1?: string;
  /** The v2 issuer extension's UTF8String (omitted when undefined). */
  readonly issuerV2?: string;
  /**
   * Default true; false leaves the EKU out. `'serverAuth'` puts another EKU in its place, `'any'`
   * anyExtendedKeyUsage.
   */
  readonly codeSigning?: boolean | 'serverAuth' | 'any';
  /** IP address SANs. */
  readonly ipAddresses?: readonly string[];
  /** URI SANs. */
  readonly uris?: readonly string[];
  /** Default sha256. */
  readonly digest?: SignatureDigest;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly subject?: string;
  /** More openssl extension lines, e.g. `1.2.3.4=critical,ASN1:NULL`. */
  readonly extraExtensions?: readonly string[];
  /** Reuse a key (default: a fresh P-256 key). */
  readonly key?: TestKey;
}

export interface TestLeaf {
  readonly certPem: string;
  readonly key: TestKey;
}

/** openssl's ASN.1 time for `-startdate`/`-enddate`: YYYYMMDDHHMMSSZ. */
function opensslTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace(/[-T:]/g, '')}Z`;
}

/**
 * Mints Fulcio-like certificates with the real openssl CLI (`openssl ca`, which takes explicit
 * start and end dates) in a temp directory: CAs, and leaves carrying the Fulcio issuer OIDs,
 * email or DNS SANs and the CodeSigning EKU.
 */
export class FulcioTestPki {
  private counter = 0;

  private readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<FulcioTestPki> {
    return new FulcioTestPki(await mkdtemp(join(tmpdir(), 'cvo-fulcio-')));
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private async openssl(cwd: string, args: readonly string[]): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      execFile('openssl', args, { cwd }, (err, _stdout, stderr) => {
        if (err) {
          reject(
            new Error(
              `openssl ${args.join(' ')} failed (the test command installs openssl): ${stderr}`,
            ),
          );
        } else resolve();
      });
    });
  }

  /** A fresh working directory with an empty `openssl ca` database. */
  private async workdir(): Promise<string> {
    const dir = await mkdtemp(join(this.dir, `c${++this.counter}-`));
    await writeFile(join(dir, 'ca.cnf'), CA_CONFIG);
    await writeFile(join(dir, 'index.txt'), '');
    await writeFile(join(dir, 'serial'), '01\n');
    return dir;
  }

  private async sign(
    dir: string,
    signer: TestCa | undefined,
    keyPath: string,
    subject: string,
    extensions: readonly string[],
    notBefore: Date,
    notAfter: Date,
    digest: SignatureDigest = 'sha256',
  ): Promise<string> {
    await this.openssl(dir, ['req', '-new', '-key', keyPath, '-subj', subject, '-out', 'c.csr']);
    await writeFile(join(dir, 'c.ext'), [...extensions, ''].join('\n'));
    // Without an extension file `openssl ca` writes a v1 certificate.
    const extensionArgs = extensions.length > 0 ? ['-extfile', 'c.ext'] : [];
    const issuerArgs =
      signer === undefined
        ? ['-selfsign', '-keyfile', keyPath]
        : ['-cert', signer.certPath, '-keyfile', signer.keyPath];
    await this.openssl(dir, [
      'ca',
      '-batch',
      '-notext',
      '-rand_serial',
      '-config',
      'ca.cnf',
      ...issuerArgs,
      '-in',
      'c.csr',
      '-out',
      'c.crt',
      '-startdate',
      opensslTime(notBefore),
      '-enddate',
      opensslTime(notAfter),
      '-md',
      digest,
      ...extensionArgs,
    ]);
    return readFile(join(dir, 'c.crt'), 'utf8');
  }

  /**
   * A CA certificate (P-256 unless told otherwise), self-signed or issued by `options.issuer`,
   * with basicConstraints CA:TRUE and keyUsage keyCertSign unless told otherwise.
   */
  async makeCa(options: CaOptions): Promise<TestCa> {
    const dir = await this.workdir();
    const keyPath = join(dir, 'ca.key');
    const key = options.key ?? createTestKey(options.keyType ?? 'p256');
    await writeFile(keyPath, key.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const basicConstraints = options.basicConstraints ?? 'ca';
    const pathLen = options.pathLen !== undefined ? `,pathlen:${options.pathLen}` : '';
    const keyUsage = options.keyUsage ?? 'critical,keyCertSign,cRLSign';
    const constraints = options.nameConstraints;
    const eku =
      options.extendedKeyUsage ?? (options.codeSigningEku === true ? 'codeSigning' : undefined);
    const extensions = options.version1
      ? []
      : [
          ...(basicConstraints === 'ca' ? [`basicConstraints=critical,CA:TRUE${pathLen}`] : []),
          ...(basicConstraints === 'notCa' ? ['basicConstraints=critical,CA:FALSE'] : []),
          ...(keyUsage !== false ? [`keyUsage=${keyUsage}`] : []),
          'subjectKeyIdentifier=hash',
          ...(options.issuer !== undefined && options.issuer.version1 !== true
            ? ['authorityKeyIdentifier=keyid']
            : []),
          ...(eku !== undefined ? [`extendedKeyUsage=${eku}`] : []),
          ...(constraints !== undefined
            ? [
                `nameConstraints=${[
                  ...(constraints.critical ? ['critical'] : []),
                  ...(constraints.permitted ?? []).map((tree) => `permitted;${tree}`),
                  ...(constraints.excluded ?? []).map((tree) => `excluded;${tree}`),
                ].join(',')}`,
              ]
            : []),
          ...(options.extraExtensions ?? []),
        ];
    const certPem = await this.sign(
      dir,
      options.issuer,
      keyPath,
      options.subject,
      extensions,
      options.notBefore ?? CA_NOT_BEFORE,
      options.notAfter ?? CA_NOT_AFTER,
      options.digest,
    );
    const certPath = join(dir, 'ca.crt');
    await writeFile(certPath, certPem);
    return { certPem, keyPath, certPath, ...(options.version1 === true ? { version1: true } : {}) };
  }

  /** A leaf (by default with a fresh P-256 key) issued by `options.issuer`. */
  async issueLeaf(options: LeafOptions): Promise<TestLeaf> {
    const dir = await this.workdir();
    const key = options.key ?? createTestKey('p256');
    const keyPath = join(dir, 'leaf.key');
    await writeFile(keyPath, key.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const san = [
      ...(options.emails ?? []).map((email) => `email:${email}`),
      ...(options.dnsNames ?? []).map((name) => `DNS:${name}`),
      ...(options.ipAddresses ?? []).map((ip) => `IP:${ip}`),
      ...(options.uris ?? []).map((uri) => `URI:${uri}`),
    ];
    const codeSigning = options.codeSigning ?? true;
    const extensions = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      ...(options.issuer.version1 !== true ? ['authorityKeyIdentifier=keyid'] : []),
      ...(codeSigning === true ? ['extendedKeyUsage=codeSigning'] : []),
      ...(codeSigning === 'serverAuth' ? ['extendedKeyUsage=serverAuth'] : []),
      ...(codeSigning === 'any' ? ['extendedKeyUsage=anyExtendedKeyUsage'] : []),
      ...(san.length > 0 ? [`subjectAltName=critical,${san.join(',')}`] : []),
      ...(options.issuerV1 !== undefined
        ? [`${FULCIO_ISSUER_V1_OID}=DER:${Buffer.from(options.issuerV1, 'utf8').toString('hex')}`]
        : []),
      ...(options.issuerV2 !== undefined
        ? [`${FULCIO_ISSUER_V2_OID}=ASN1:UTF8String:${options.issuerV2}`]
        : []),
      ...(options.extraExtensions ?? []),
    ];
    const certPem = await this.sign(
      dir,
      options.issuer,
      keyPath,
      options.subject ?? '/O=sigstore.dev',
      extensions,
      options.notBefore ?? LEAF_NOT_BEFORE,
      options.notAfter ?? LEAF_NOT_AFTER,
      options.digest,
    );
    return { certPem, key };
  }
}
