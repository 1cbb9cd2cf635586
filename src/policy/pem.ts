import { createPublicKey, X509Certificate } from 'node:crypto';

import { parseFulcioRoots } from '../sigstore/certificate.js';
import { toVerificationKey } from '../sigstore/public-key.js';

// Go's base64.StdEncoding (what `format: byte` fields decode with): padded, standard alphabet;
// it skips \r and \n, so we do too.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/y;

/** Decodes a `format: byte` field; undefined when it is not valid standard base64. */
export function decodeBase64Field(text: string): Buffer | undefined {
  const compact = text.replace(/[\r\n]/g, '');
  if (!BASE64_RE.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

/** Only PEM blocks and whitespace: stricter than Go's pem.Decode, which skips junk. */
function parsePemBlocks(text: string): PemBlock[] | string {
  const blocks: PemBlock[] = [];
  let pos = 0;
  for (;;) {
    while (pos < text.length && /\s/.test(text.charAt(pos))) pos++;
    if (pos >= text.length) return blocks;
    PEM_BLOCK_RE.lastIndex = pos;
    const match = PEM_BLOCK_RE.exec(text);
    if (match === null) return `text outside a PEM block or a malformed PEM block at offset ${pos}`;
    const der = decodeBase64Field(match[2] ?? '');
    if (der === undefined || der.length === 0)
      return `the ${match[1] ?? ''} PEM block at offset ${pos} has invalid base64`;
    blocks.push({ label: match[1] ?? '', der });
    pos = PEM_BLOCK_RE.lastIndex;
  }
}

/** Undefined when `pem` is exactly one parseable `PUBLIC KEY` block, else the reason. */
export function checkPublicKeyPem(pem: string): string | undefined {
  const blocks = parsePemBlocks(pem);
  if (typeof blocks === 'string') return blocks;
  if (blocks.length !== 1) return `must hold exactly one PEM block, found ${blocks.length}`;
  const block = blocks[0];
  if (block?.label !== 'PUBLIC KEY')
    return `must be a PUBLIC KEY PEM block, not ${block?.label ?? ''}`;
  let key;
  try {
    key = createPublicKey({ key: block.der, format: 'der', type: 'spki' });
  } catch (err) {
    return `the PUBLIC KEY PEM block is not a valid public key: ${(err as Error).message}`;
  }
  try {
    // A key we cannot verify with (a curve, size or type) is a configuration error now, not a
    // silent "not verified" at every signature later.
    toVerificationKey(key);
  } catch (err) {
    return `the PUBLIC KEY PEM block is not a usable public key: ${(err as Error).message}`;
  }
  return undefined;
}

/** Undefined when `pem` is one or more parseable `CERTIFICATE` blocks, else the reason. */
export function checkCertificatesPem(pem: string): string | undefined {
  const blocks = parsePemBlocks(pem);
  if (typeof blocks === 'string') return blocks;
  if (blocks.length === 0) return 'must hold at least one CERTIFICATE PEM block';
  for (const [i, block] of blocks.entries()) {
    if (block.label !== 'CERTIFICATE')
      return `PEM block ${i + 1} must be a CERTIFICATE, not ${block.label}`;
    try {
      new X509Certificate(block.der);
    } catch (err) {
      return `PEM block ${i + 1} is not a valid X.509 certificate: ${(err as Error).message}`;
    }
  }
  try {
    // The certificate reader verification will use: what it cannot read is refused now.
    parseFulcioRoots(pem);
  } catch (err) {
    return `the certificates cannot be used as a CA bundle: ${(err as Error).message}`;
  }
  return undefined;
}
