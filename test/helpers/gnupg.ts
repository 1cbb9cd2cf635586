// Tests drive the same GnuPG wrapper as the demo: real gpg, throw-away GNUPGHOME.
export { atomicPayload, GnuPG, randomDigest } from '../../testbed/gnupg.js';
export type { GpgKey, KeyAlgorithm, SignOptions } from '../../testbed/gnupg.js';
