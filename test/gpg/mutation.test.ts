/**
 * Randomised mutation test of the OpenPGP signed-message path. Valid messages are made by real
 * GnuPG at test time (RSA and Ed25519 keys; compressed and uncompressed; binary), plus
 * Red Hat's V3 signature from library-go's fixtures, and then mutated: bit flips, truncation,
 * byte insertion and deletion, packet reordering, duplication and removal, header re-encoding,
 * unhashed-subpacket and literal-header edits, and swapping in another digest's payload.
 *
 * For every mutant, verifySignedMessage must either throw a VerifyError or return exactly the
 * original payload, signer and signature time; it must never throw anything else and never hang
 * (each mutant runs in a worker thread under a watchdog, so a synchronous endless loop is caught
 * too). A mutant whose only change is a single byte inside what the signature covers (literal
 * data, a V4 hashed area, a V3 hashed type and time, signature values) must be rejected; a
 * re-encoding that keeps every packet must verify. The GpgReleaseVerifier path must say
 * `verified` exactly when the mutant still carries the digest's original payload with a valid
 * signature.
 *
 * The mutation choices come from a seeded PRNG: the seed is printed and MUTATION_SEED repeats it
 * (GnuPG still makes fresh keys and signatures, so a failure report carries the mutant's hex).
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { deflateRawSync, deflateSync, inflateRawSync, inflateSync } from 'node:zlib';

import { VerifyError } from '../../src/errors.js';
import { crc24 } from '../../src/gpg/armor.js';
import { loadKeyring } from '../../src/gpg/keyring.js';
import type { Keyring } from '../../src/gpg/keyring.js';
import { readPackets, Tag } from '../../src/gpg/packets.js';
import { verifySignedMessage } from '../../src/gpg/verify-message.js';
import { MemorySignatureStore } from '../../src/stores/memory-store.js';
import { GpgReleaseVerifier } from '../../src/verify/gpg-verifier.js';
import type { GpgResult } from '../../src/verify/gpg-verifier.js';
import { LruCache } from '../../src/verify/verdict-cache.js';
import { withSharedFixture } from '../helpers/fixtures.js';
import { atomicPayload, GnuPG, randomDigest } from '../helpers/gnupg.js';

const WORKER_ROLE = 'signed-message-mutation-worker';
/** A mutant taking longer than this is reported as a hang (normal mutants take well under 10 ms). */
const HANG_TIMEOUT_MS = 5_000;
/** Starting the worker (tsx, openpgp) and loading a keyring may take longer on a loaded machine. */
const SETUP_TIMEOUT_MS = 60_000;
const REDHAT_V3_DIGEST = 'sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7';
const OPENSHIFT_CI_DIGEST =
  'sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140';
const REDHAT_V3_KEY_ID = '199e2f91fd431d51';

// ---------------------------------------------------------------------------------------------
// Worker side: verifies one input per request, with no state shared with the test thread.

interface Signer {
  readonly keyId: string;
  readonly fingerprint: string;
  readonly created: number;
  readonly version: number;
}

type DirectOutcome =
  | { readonly kind: 'ok'; readonly data: Uint8Array; readonly signer: Signer }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string }
  | { readonly kind: 'threw'; readonly detail: string };

type ReleaseOutcome =
  | {
      readonly digest: string;
      readonly kind: 'result';
      readonly verified: boolean;
      readonly code?: string;
    }
  | { readonly digest: string; readonly kind: 'threw'; readonly detail: string };

type WorkRequest =
  | {
      readonly kind: 'keyring';
      readonly id: number;
      readonly name: string;
      readonly text: Uint8Array;
    }
  | {
      readonly kind: 'verify';
      readonly id: number;
      readonly keyring: string;
      readonly input: Uint8Array;
      readonly digests: readonly string[];
    };

interface WorkResponse {
  readonly id: number;
  readonly error?: string;
  readonly direct?: DirectOutcome;
  readonly release?: readonly ReleaseOutcome[];
}

function describeThrown(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}\n${err.stack ?? ''}`;
  return `non-Error thrown: ${String(err)}`;
}

function workerMain(port: NonNullable<typeof parentPort>): void {
  const store = new MemorySignatureStore();
  const keyrings = new Map<string, { keyring: Keyring; verifier: GpgReleaseVerifier }>();

  async function handle(req: WorkRequest): Promise<WorkResponse> {
    if (req.kind === 'keyring') {
      const keyring = await loadKeyring(req.name, req.text);
      // No verdict is cached, so every mutant is really verified.
      const verifier = new GpgReleaseVerifier({
        trust: { source: 'the mutation test', keyrings: [keyring] },
        stores: [store],
        cache: new LruCache<GpgResult>(0),
      });
      keyrings.set(req.name, { keyring, verifier });
      return { id: req.id };
    }
    const entry = keyrings.get(req.keyring);
    if (entry === undefined) return { id: req.id, error: `keyring ${req.keyring} not loaded` };
    let direct: DirectOutcome;
    try {
      const m = await verifySignedMessage(req.input, entry.keyring);
      direct = {
        kind: 'ok',
        data: m.data,
        signer: {
          keyId: m.keyId,
          fingerprint: m.fingerprint,
          created: m.created.getTime(),
          version: m.signatureVersion,
        },
      };
    } catch (err) {
      direct =
        err instanceof VerifyError
          ? { kind: 'rejected', code: err.code, message: err.message }
          : { kind: 'threw', detail: describeThrown(err) };
    }
    const release: ReleaseOutcome[] = [];
    for (const digest of req.digests) {
      store.set(digest, [req.input]);
      try {
        const result = await entry.verifier.verify(digest);
        release.push({
          digest,
          kind: 'result',
          verified: result.verified,
          ...(result.code !== undefined ? { code: result.code } : {}),
        });
      } catch (err) {
        release.push({ digest, kind: 'threw', detail: describeThrown(err) });
      }
      store.set(digest, []);
    }
    return { id: req.id, direct, release };
  }

  port.on('message', (req: WorkRequest) => {
    handle(req).then(
      (res) => {
        port.postMessage(res);
      },
      (err: unknown) => {
        port.postMessage({ id: req.id, error: describeThrown(err) } satisfies WorkResponse);
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Test thread: a client for the worker that replaces it when a mutant hangs it.

class VerifyWorker {
  private worker: Worker;
  private nextId = 1;
  private readonly keyrings: { name: string; text: Uint8Array }[] = [];

  private constructor(worker: Worker) {
    this.worker = worker;
  }

  static start(): VerifyWorker {
    return new VerifyWorker(VerifyWorker.spawn());
  }

  private static spawn(): Worker {
    // This very file, in worker mode; the tsx loader of the test process applies to workers too.
    const worker = new Worker(new URL(import.meta.url), { workerData: { role: WORKER_ROLE } });
    worker.unref();
    return worker;
  }

  async loadKeyring(name: string, text: Uint8Array): Promise<void> {
    this.keyrings.push({ name, text });
    const res = await this.request(
      { kind: 'keyring', id: this.nextId++, name, text },
      SETUP_TIMEOUT_MS,
    );
    if (res === 'hang' || res.error !== undefined) {
      throw new Error(
        `worker could not load keyring ${name}: ${res === 'hang' ? 'hang' : (res.error ?? '')}`,
      );
    }
  }

  /** Verifies `input`; 'hang' when it took longer than the watchdog allows. */
  async verify(
    keyring: string,
    input: Uint8Array,
    digests: readonly string[],
  ): Promise<WorkResponse | 'hang'> {
    return this.request(
      { kind: 'verify', id: this.nextId++, keyring, input, digests },
      HANG_TIMEOUT_MS,
    );
  }

  private async request(req: WorkRequest, timeoutMs: number): Promise<WorkResponse | 'hang'> {
    const worker = this.worker;
    const outcome = await new Promise<WorkResponse | 'hang' | Error>((resolve) => {
      const timer = setTimeout(() => {
        cleanup();
        resolve('hang');
      }, timeoutMs);
      const onMessage = (res: WorkResponse): void => {
        if (res.id !== req.id) return;
        cleanup();
        resolve(res);
      };
      const onError = (err: Error): void => {
        cleanup();
        resolve(err);
      };
      const onExit = (code: number): void => {
        cleanup();
        resolve(new Error(`worker exited with code ${code}`));
      };
      function cleanup(): void {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      }
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage(req);
    });
    if (outcome === 'hang' || outcome instanceof Error) {
      await this.restart();
      return outcome === 'hang' ? 'hang' : { id: req.id, error: describeThrown(outcome) };
    }
    return outcome;
  }

  private async restart(): Promise<void> {
    await this.worker.terminate();
    this.worker = VerifyWorker.spawn();
    for (const { name, text } of this.keyrings) {
      const res = await this.request(
        { kind: 'keyring', id: this.nextId++, name, text },
        SETUP_TIMEOUT_MS,
      );
      if (res === 'hang' || res.error !== undefined)
        throw new Error(`worker restart failed for ${name}`);
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// A seeded PRNG (mulberry32) and byte helpers.

class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

function concat(...parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => Uint8Array.from(p))));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

function hex(data: Uint8Array): string {
  return Buffer.from(data).toString('hex');
}

function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function flipBit(data: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(data);
  out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return out;
}

function splice(
  data: Uint8Array,
  pos: number,
  remove: number,
  insert: Uint8Array = new Uint8Array(),
): Uint8Array {
  return concat(data.subarray(0, pos), insert, data.subarray(pos + remove));
}

// ---------------------------------------------------------------------------------------------
// An independent OpenPGP serialiser and armor writer, so mutants reach the parser intact.

interface RawPacket {
  readonly tag: number;
  readonly body: Uint8Array;
}

type HeaderStyle = 'new' | 'new5' | 'old' | 'old4' | 'old-indeterminate' | 'partial';

// Partial body lengths are legal only for these (RFC 4880 §4.2.2.4).
const DATA_PACKETS = new Set<number>([Tag.Compressed, Tag.Literal]);

function encodePacket(packet: RawPacket, style: HeaderStyle): Uint8Array {
  const { tag, body } = packet;
  const n = body.length;
  switch (style) {
    case 'new':
      if (n < 192) return concat([0xc0 | tag, n], body);
      if (n < 8384) return concat([0xc0 | tag, ((n - 192) >> 8) + 192, (n - 192) & 0xff], body);
      return concat([0xc0 | tag, 0xff, ...u32(n)], body);
    case 'new5':
      return concat([0xc0 | tag, 0xff, ...u32(n)], body);
    case 'old':
      if (n < 256) return concat([0x80 | (tag << 2), n], body);
      if (n < 65536) return concat([0x80 | (tag << 2) | 1, ...u16(n)], body);
      return concat([0x80 | (tag << 2) | 2, ...u32(n)], body);
    case 'old4':
      return concat([0x80 | (tag << 2) | 2, ...u32(n)], body);
    case 'old-indeterminate':
      return concat([0x80 | (tag << 2) | 3], body);
    case 'partial': {
      // RFC 4880 §4.2.2.4: the first partial chunk is at least 512 bytes; the last length may be 0.
      const parts: (Uint8Array | number[])[] = [[0xc0 | tag]];
      let pos = 0;
      while (n - pos >= 512) {
        parts.push([0xe0 + 9], body.subarray(pos, pos + 512));
        pos += 512;
      }
      const rest = n - pos;
      if (rest < 192) parts.push([rest]);
      else parts.push([((rest - 192) >> 8) + 192, (rest - 192) & 0xff]);
      parts.push(body.subarray(pos));
      return concat(...parts);
    }
  }
}

/** A header style valid for this packet where it stands. */
function randomStyle(packet: RawPacket, last: boolean, rng: Rng): HeaderStyle {
  const styles: HeaderStyle[] = ['new', 'new5'];
  if (packet.tag < 16) styles.push('old', 'old4');
  if (packet.tag < 16 && last) styles.push('old-indeterminate');
  if (DATA_PACKETS.has(packet.tag) && packet.body.length >= 512) styles.push('partial');
  return rng.pick(styles);
}

function serialize(packets: readonly RawPacket[], rng?: Rng): Uint8Array {
  return concat(
    ...packets.map((p, i) =>
      encodePacket(p, rng === undefined ? 'new' : randomStyle(p, i === packets.length - 1, rng)),
    ),
  );
}

const CompressionAlgorithm = { Uncompressed: 0, ZIP: 1, ZLIB: 2 } as const;

function compressedPacket(inner: Uint8Array, algorithm: number): RawPacket {
  const data =
    algorithm === CompressionAlgorithm.ZIP
      ? deflateRawSync(inner)
      : algorithm === CompressionAlgorithm.ZLIB
        ? deflateSync(inner)
        : inner;
  return { tag: Tag.Compressed, body: concat([algorithm], data) };
}

function armor(binary: Uint8Array): Uint8Array {
  const lines =
    Buffer.from(binary)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  const crc = Buffer.from(u32(crc24(binary)).slice(1)).toString('base64');
  return new Uint8Array(
    Buffer.from(
      `-----BEGIN PGP MESSAGE-----\n\n${lines.join('\n')}\n=${crc}\n-----END PGP MESSAGE-----\n`,
    ),
  );
}

function isArmored(wire: Uint8Array): boolean {
  return Buffer.from(wire.subarray(0, 64)).toString('latin1').includes('-----BEGIN PGP');
}

function dearmor(wire: Uint8Array): Uint8Array {
  const lines = Buffer.from(wire).toString('latin1').split(/\r?\n/);
  const begin = lines.findIndex((l) => l.startsWith('-----BEGIN PGP MESSAGE-----'));
  const blank = lines.indexOf('', begin);
  const body: string[] = [];
  for (const line of lines.slice(blank + 1)) {
    if (line.startsWith('=') || line.startsWith('-----END')) break;
    body.push(line);
  }
  return new Uint8Array(Buffer.from(body.join(''), 'base64'));
}

// ---------------------------------------------------------------------------------------------
// Originals: how each is laid out, and which bytes its signature covers.

interface Message {
  readonly digest: string;
  readonly payload: Uint8Array;
  /** Decompressed packet sequence. */
  readonly packets: readonly RawPacket[];
  /** What verifying the unmutated message reports; set by the sanity check. */
  expected?: Signer;
}

interface Original extends Message {
  readonly label: string;
  readonly keyring: string;
  readonly wire: Uint8Array;
  readonly armored: boolean;
  /** Compression algorithm of the outer compressed packet, when there is one. */
  readonly compression: number | undefined;
  /** `packets` serialised with minimal new-format headers. */
  readonly inner: Uint8Array;
  /** Per byte of `inner`: true when the signature covers that byte. */
  readonly signed: readonly boolean[];
  /** A validly signed message for another digest, for the swap mutations. */
  readonly other: Message;
}

function unpack(wire: Uint8Array): {
  armored: boolean;
  compression: number | undefined;
  packets: RawPacket[];
} {
  const armored = isArmored(wire);
  const binary = armored ? dearmor(wire) : wire;
  const outer = readPackets(binary);
  const copy = (p: RawPacket): RawPacket => ({ tag: p.tag, body: Uint8Array.from(p.body) });
  const first = outer[0];
  if (outer.length === 1 && first?.tag === Tag.Compressed) {
    const algorithm = first.body[0]!;
    const data = first.body.subarray(1);
    const inner =
      algorithm === CompressionAlgorithm.ZIP
        ? inflateRawSync(data)
        : algorithm === CompressionAlgorithm.ZLIB
          ? inflateSync(data)
          : data;
    return {
      armored,
      compression: algorithm,
      packets: readPackets(new Uint8Array(inner)).map(copy),
    };
  }
  return { armored, compression: undefined, packets: outer.map(copy) };
}

function literalPayload(packets: readonly RawPacket[]): Uint8Array {
  const literal = packets.find((p) => p.tag === Tag.Literal);
  assert.ok(literal, 'message has no literal packet');
  return literal.body.subarray(2 + literal.body[1]! + 4);
}

/**
 * Bytes the signature covers, per RFC 4880 §5.2.4: the literal data (not its format, name or
 * date); a V4 signature's version, type, algorithms, hashed-area length and hashed area; a V3
 * signature's type and creation time; and the signature values (not MPI bit counts). Everything
 * else (headers, one-pass packets, unhashed area, quick-check bytes, V3 key ID and algorithm
 * bytes) may change without invalidating the signature cryptographically.
 */
function signedBytes(packet: RawPacket): boolean[] {
  const { body } = packet;
  const signed: boolean[] = new Array<boolean>(body.length).fill(false);
  const mark = (from: number, to: number): void => {
    for (let i = from; i < Math.min(to, body.length); i++) signed[i] = true;
  };
  if (packet.tag === Tag.Literal) {
    mark(2 + body[1]! + 4, body.length);
  } else if (packet.tag === Tag.Signature && body[0] === 4) {
    const hashed = (body[4]! << 8) | body[5]!;
    mark(0, 6 + hashed);
    const unhashed = (body[6 + hashed]! << 8) | body[7 + hashed]!;
    markValues(body, 6 + hashed + 2 + unhashed + 2, body[2]!, mark);
  } else if (packet.tag === Tag.Signature && body[0] === 3) {
    mark(2, 7);
    markValues(body, 19, body[15]!, mark);
  }
  return signed;
}

function markValues(
  body: Uint8Array,
  start: number,
  algorithm: number,
  mark: (from: number, to: number) => void,
): void {
  if (algorithm === 27) {
    mark(start, start + 64); // Ed25519 (RFC 9580): 64 raw bytes
    return;
  }
  for (let pos = start; pos + 2 <= body.length;) {
    const length = (((body[pos]! << 8) | body[pos + 1]!) + 7) >> 3;
    mark(pos + 2, pos + 2 + length);
    pos += 2 + length;
  }
}

function makeOriginal(
  label: string,
  keyring: string,
  wire: Uint8Array,
  digest: string,
  other: Message,
): Original {
  const { armored, compression, packets } = unpack(wire);
  const signed: boolean[] = [];
  for (const packet of packets) {
    const header = encodePacket(packet, 'new').length - packet.body.length;
    signed.push(...new Array<boolean>(header).fill(false), ...signedBytes(packet));
  }
  const inner = serialize(packets);
  assert.equal(signed.length, inner.length);
  return {
    label,
    keyring,
    wire,
    armored,
    compression,
    packets,
    inner,
    signed,
    digest,
    payload: literalPayload(packets),
    other,
  };
}

function makeMessage(wire: Uint8Array, digest: string): Message {
  const { packets } = unpack(wire);
  return { digest, packets, payload: literalPayload(packets) };
}

// ---------------------------------------------------------------------------------------------
// Mutations.

interface Mutant {
  readonly family: string;
  readonly note: string;
  readonly input: Uint8Array;
  /** A single byte the signature covers was changed, or another payload swapped in. */
  readonly mustFail: boolean;
  /** Every packet is unchanged; only encodings differ. */
  readonly mustVerify: boolean;
  /** The message whose payload and signer a success must report. */
  readonly source: 'original' | 'other';
  /** Extra digests to run the release verifier for (the original's digest is always run). */
  readonly extraDigests: readonly string[];
}

/** Wraps an inner packet sequence the way the original was (gpg writes old indeterminate). */
function wrapLike(o: Original, inner: Uint8Array): Uint8Array {
  const binary =
    o.compression === undefined
      ? inner
      : encodePacket(compressedPacket(inner, o.compression), 'old-indeterminate');
  return o.armored ? armor(binary) : binary;
}

/**
 * Wraps an inner packet sequence in any valid way: compression and header style. Never armor:
 * armored signed messages are refused, as library-go refuses them.
 */
function wrapRandom(inner: Uint8Array, rng: Rng): Uint8Array {
  const algorithm = rng.pick([undefined, 0, 1, 2]);
  let binary = inner;
  if (algorithm !== undefined) {
    const packet = compressedPacket(inner, algorithm);
    binary = encodePacket(packet, randomStyle(packet, true, rng));
  }
  return binary;
}

function* mutate(o: Original, rng: Rng): Generator<Mutant> {
  const base = {
    mustFail: false,
    mustVerify: false,
    source: 'original',
    extraDigests: [],
  } as const;
  const binaryWire = o.armored ? dearmor(o.wire) : o.wire;
  const onWire = (
    change: (wire: Uint8Array) => Uint8Array,
  ): { input: Uint8Array; where: string } => {
    // Armored originals: half the mutations hit the text, half the binary re-armored with a
    // fresh checksum, so they get past the armor layer.
    if (o.armored && rng.int(2) === 0)
      return { input: armor(change(binaryWire)), where: 'binary, re-armored' };
    return { input: change(o.wire), where: o.armored ? 'armor text' : 'binary' };
  };

  // 1. Whole-message byte mutations.
  for (let i = 0; i < 60; i++) {
    let note = '';
    const m = onWire((w) => {
      const bit = rng.int(w.length * 8);
      note = `bit ${bit} (byte ${bit >> 3})`;
      return flipBit(w, bit);
    });
    yield { ...base, family: 'wire bit flip', note: `${note} of ${m.where}`, input: m.input };
  }
  for (let i = 0; i < 25; i++) {
    const bits: number[] = [];
    const m = onWire((w) => {
      let out = w;
      for (let k = rng.range(2, 16); k > 0; k--) {
        const bit = rng.int(w.length * 8);
        bits.push(bit);
        out = flipBit(out, bit);
      }
      return out;
    });
    yield {
      ...base,
      family: 'wire multi-bit flip',
      note: `bits ${bits.join(',')} of ${m.where}`,
      input: m.input,
    };
  }
  for (let i = 0; i < 20; i++) {
    let note = '';
    const m = onWire((w) => {
      const length = rng.int(w.length);
      note = `truncated to ${length} of ${w.length} bytes`;
      return w.subarray(0, length);
    });
    yield { ...base, family: 'wire truncation', note: `${note} (${m.where})`, input: m.input };
  }
  for (let i = 0; i < 15; i++) {
    let note = '';
    const m = onWire((w) => {
      const pos = rng.int(w.length + 1);
      const bytes = rng.bytes(rng.range(1, 4));
      note = `inserted ${hex(bytes)} at ${pos}`;
      return splice(w, pos, 0, bytes);
    });
    yield { ...base, family: 'wire insertion', note: `${note} (${m.where})`, input: m.input };
  }
  for (let i = 0; i < 15; i++) {
    let note = '';
    const m = onWire((w) => {
      const pos = rng.int(w.length);
      const count = rng.range(1, 4);
      note = `deleted ${count} at ${pos}`;
      return splice(w, pos, count);
    });
    yield { ...base, family: 'wire deletion', note: `${note} (${m.where})`, input: m.input };
  }

  // 2. Mutations of the decompressed packet sequence, wrapped again like the original. A single
  // changed byte is classified exactly: inside what the signature covers, it must fail.
  for (let i = 0; i < 80; i++) {
    const bit = rng.int(o.inner.length * 8);
    const mustFail = o.signed[bit >> 3] === true;
    yield {
      ...base,
      family: mustFail ? 'packet bit flip (signed byte)' : 'packet bit flip (unsigned byte)',
      note: `bit ${bit} (byte ${bit >> 3}) of the decompressed packets`,
      input: wrapLike(o, flipBit(o.inner, bit)),
      mustFail,
    };
  }
  for (let i = 0; i < 20; i++) {
    const pos = rng.int(o.inner.length);
    const value = (o.inner[pos]! + rng.range(1, 255)) & 0xff;
    const changed = Uint8Array.from(o.inner);
    changed[pos] = value;
    const mustFail = o.signed[pos] === true;
    yield {
      ...base,
      family: mustFail ? 'packet byte change (signed byte)' : 'packet byte change (unsigned byte)',
      note: `byte ${pos} set to 0x${value.toString(16)} in the decompressed packets`,
      input: wrapLike(o, changed),
      mustFail,
    };
  }
  // Few bytes lie outside the signature (headers, one-pass packets, literal name and date, the
  // unhashed area, quick-check bytes, MPI bit counts), and they are where a parser is most likely
  // to be fooled: every bit of each of them is flipped, not a sample.
  for (let pos = 0; pos < o.inner.length; pos++) {
    if (o.signed[pos] === true) continue;
    for (let bit = 0; bit < 8; bit++) {
      yield {
        ...base,
        family: 'packet bit flip (every unsigned bit)',
        note: `bit ${pos * 8 + bit} (byte ${pos}) of the decompressed packets`,
        input: wrapLike(o, flipBit(o.inner, pos * 8 + bit)),
      };
    }
  }
  for (let i = 0; i < 15; i++) {
    let out = o.inner;
    const bits: number[] = [];
    for (let k = rng.range(2, 8); k > 0; k--) {
      const bit = rng.int(out.length * 8);
      bits.push(bit);
      out = flipBit(out, bit);
    }
    yield {
      ...base,
      family: 'packet multi-bit flip',
      note: `bits ${bits.join(',')}`,
      input: wrapLike(o, out),
    };
  }
  for (let i = 0; i < 10; i++) {
    const length = rng.int(o.inner.length);
    yield {
      ...base,
      family: 'packet truncation',
      note: `decompressed packets truncated to ${length} of ${o.inner.length}`,
      input: wrapLike(o, o.inner.subarray(0, length)),
    };
  }
  for (let i = 0; i < 10; i++) {
    const pos = rng.int(o.inner.length + 1);
    const bytes = rng.bytes(rng.range(1, 4));
    yield {
      ...base,
      family: 'packet insertion',
      note: `inserted ${hex(bytes)} at ${pos} of the decompressed packets`,
      input: wrapLike(o, splice(o.inner, pos, 0, bytes)),
    };
  }
  for (let i = 0; i < 10; i++) {
    const pos = rng.int(o.inner.length);
    const count = rng.range(1, 4);
    yield {
      ...base,
      family: 'packet deletion',
      note: `deleted ${count} at ${pos} of the decompressed packets`,
      input: wrapLike(o, splice(o.inner, pos, count)),
    };
  }

  // 3. Packet-level changes, serialised with random valid headers and wrappers.
  const tags = (packets: readonly RawPacket[]): string => packets.map((p) => p.tag).join(',');
  for (let i = 0; i < 15; i++) {
    let order = rng.shuffle(o.packets.map((_, k) => k));
    while (order.every((k, j) => k === j)) order = rng.shuffle(order);
    const packets = order.map((k) => o.packets[k]!);
    yield {
      ...base,
      family: 'packet reordering',
      note: `order ${order.join(',')} (tags ${tags(packets)})`,
      input: wrapRandom(serialize(packets, rng), rng),
    };
  }
  for (let i = 0; i < 15; i++) {
    const packets = [...o.packets];
    for (let k = rng.range(1, 2); k > 0; k--) {
      const copy = packets[rng.int(packets.length)]!;
      packets.splice(rng.int(packets.length + 1), 0, copy);
    }
    yield {
      ...base,
      family: 'packet duplication',
      note: `tags ${tags(packets)}`,
      input: wrapRandom(serialize(packets, rng), rng),
    };
  }
  for (let i = 0; i < 8; i++) {
    const packets = o.packets.filter(() => rng.int(3) !== 0);
    if (packets.length === o.packets.length) packets.splice(rng.int(packets.length), 1);
    yield {
      ...base,
      family: 'packet removal',
      note: `tags ${tags(packets)}`,
      input: wrapRandom(serialize(packets, rng), rng),
    };
  }
  for (let i = 0; i < 5; i++) {
    // Marker and padding packets carry nothing: they may be ignored wherever they stand.
    const filler = rng.pick([
      { tag: Tag.Marker, body: new Uint8Array([0x50, 0x47, 0x50]) },
      { tag: Tag.Padding, body: rng.bytes(rng.range(0, 40)) },
    ]);
    const packets = [...o.packets];
    packets.splice(rng.int(packets.length + 1), 0, filler);
    yield {
      ...base,
      family: 'marker or padding packet inserted',
      note: `tags ${tags(packets)}`,
      input: wrapRandom(serialize(packets, rng), rng),
    };
  }
  for (let i = 0; i < 10; i++) {
    yield {
      ...base,
      family: 're-encoding (must verify)',
      note: 'same packets, random valid headers and compression',
      input: wrapRandom(serialize(o.packets, rng), rng),
      mustVerify: true,
    };
  }

  // 4. Edits of parts the signature does not cover: they may verify, with the same result.
  const literalIndex = o.packets.findIndex((p) => p.tag === Tag.Literal);
  const literal = o.packets[literalIndex]!;
  for (let i = 0; i < 5; i++) {
    const name = rng.bytes(rng.range(0, 20)).map((b) => 0x61 + (b % 26));
    const format = rng.pick([0x62, 0x74, 0x75, 0x6d, rng.int(256)]);
    const date = rng.bytes(4);
    const body = concat([format, name.length], name, date, o.payload);
    const packets = o.packets.map((p, k) => (k === literalIndex ? { tag: p.tag, body } : p));
    yield {
      ...base,
      family: 'literal header edit',
      note: `format 0x${format.toString(16)}, name "${Buffer.from(name).toString('latin1')}", date ${hex(date)}`,
      input: wrapLike(o, serialize(packets)),
    };
  }
  const sigIndex = o.packets.findIndex((p) => p.tag === Tag.Signature);
  const sig = o.packets[sigIndex]!;
  if (sig.body[0] === 4) {
    const hashedLength = (sig.body[4]! << 8) | sig.body[5]!;
    const start = 6 + hashedLength;
    const unhashedLength = (sig.body[start]! << 8) | sig.body[start + 1]!;
    const unhashed = sig.body.subarray(start + 2, start + 2 + unhashedLength);
    const subpacket = (type: number, data: Uint8Array | readonly number[]): Uint8Array =>
      concat([1 + data.length, type], data);
    const otherKeyId = rng.bytes(8);
    for (let i = 0; i < 10; i++) {
      const variants: [string, () => Uint8Array][] = [
        ['no unhashed subpackets', () => new Uint8Array()],
        [
          'unhashed creation time far in the future',
          () => concat(subpacket(2, u32(0xfffffff0)), unhashed),
        ],
        ['unhashed creation time in 1990', () => concat(subpacket(2, u32(631152000)), unhashed)],
        ['unhashed expiry of 1 second', () => concat(subpacket(3, u32(1)), unhashed)],
        ['unhashed issuer of another key first', () => concat(subpacket(16, otherKeyId), unhashed)],
        [
          'unhashed critical unknown subpacket',
          () => concat(subpacket(0x80 | 100, rng.bytes(3)), unhashed),
        ],
        [
          'unhashed notation',
          () => concat(unhashed, subpacket(20, concat([0x80, 0, 0, 0, 0, 1, 0, 1], [0x61, 0x62]))),
        ],
        ['random unhashed bytes', () => rng.bytes(rng.range(1, 12))],
        [
          'unhashed subpacket with a 5-byte length',
          () => concat([0xff, ...u32(5), 2], u32(1), unhashed),
        ],
      ];
      const [what, make] = rng.pick(variants);
      const area = make();
      const body = concat(
        sig.body.subarray(0, start),
        u16(area.length),
        area,
        sig.body.subarray(start + 2 + unhashedLength),
      );
      const packets = o.packets.map((p, k) => (k === sigIndex ? { tag: p.tag, body } : p));
      yield {
        ...base,
        family: 'unhashed area edit',
        note: what,
        input: wrapLike(o, serialize(packets)),
      };
    }
  }

  // 5. Another digest's payload or packets swapped in: never valid for either digest.
  for (let i = 0; i < 3; i++) {
    const digest = randomDigest();
    const swapped = Buffer.from(
      Buffer.from(o.payload).toString('latin1').replace(o.digest, digest),
      'latin1',
    );
    assert.ok(!sameBytes(swapped, o.payload));
    const body = concat(literal.body.subarray(0, literal.body.length - o.payload.length), swapped);
    const packets = o.packets.map((p, k) => (k === literalIndex ? { tag: p.tag, body } : p));
    yield {
      ...base,
      family: 'payload of another digest',
      note: `literal data names ${digest}`,
      input: wrapLike(o, serialize(packets)),
      mustFail: true,
      extraDigests: [digest],
    };
  }
  const otherLiteral = o.other.packets.find((p) => p.tag === Tag.Literal)!;
  yield {
    ...base,
    family: 'payload of another digest',
    note: `literal packet of the message for ${o.other.digest}`,
    input: wrapLike(o, serialize(o.packets.map((p) => (p.tag === Tag.Literal ? otherLiteral : p)))),
    mustFail: true,
    extraDigests: [o.other.digest],
  };
  const otherSigs = o.other.packets.filter((p) => p.tag !== Tag.Literal);
  yield {
    ...base,
    family: 'payload of another digest',
    note: `one-pass and signature packets of the message for ${o.other.digest}`,
    input: wrapLike(
      o,
      serialize([
        ...otherSigs.filter((p) => p.tag === Tag.OnePassSignature),
        literal,
        ...otherSigs.filter((p) => p.tag === Tag.Signature),
      ]),
    ),
    mustFail: true,
    extraDigests: [o.other.digest],
  };
  yield {
    ...base,
    family: 'message for another digest',
    note: `the intact message for ${o.other.digest}, offered for ${o.digest}`,
    input: wrapLike(o, serialize(o.other.packets)),
    source: 'other',
    extraDigests: [o.other.digest],
  };
}

// ---------------------------------------------------------------------------------------------
// The oracle.

interface Finding {
  readonly original: string;
  readonly family: string;
  readonly mutation: string;
  readonly problem: string;
  readonly inputHex: string;
}

interface FamilyStats {
  mutants: number;
  verified: number;
  codes: Map<string, number>;
}

function judge(o: Original, m: Mutant, res: WorkResponse | 'hang'): string[] {
  if (res === 'hang') return [`no answer within ${HANG_TIMEOUT_MS} ms (hang)`];
  if (res.error !== undefined || res.direct === undefined || res.release === undefined) {
    return [`the worker failed: ${res.error ?? 'no result'}`];
  }
  const problems: string[] = [];
  const { direct } = res;
  const source = m.source === 'original' ? o : o.other;
  if (direct.kind === 'threw') {
    problems.push(`verifySignedMessage threw something other than a VerifyError: ${direct.detail}`);
  } else if (direct.kind === 'ok') {
    if (m.mustFail) problems.push('verified although a byte the signature covers was changed');
    if (!sameBytes(direct.data, source.payload)) {
      problems.push(
        `verified with different data: ${JSON.stringify(Buffer.from(direct.data).toString('latin1'))}`,
      );
    }
    if (source.expected === undefined) {
      problems.push('verified although its signature does not verify unmutated');
    } else if (JSON.stringify(direct.signer) !== JSON.stringify(source.expected)) {
      problems.push(
        `verified with a different signer or time: ${JSON.stringify(direct.signer)}, expected ${JSON.stringify(source.expected)}`,
      );
    }
  } else if (m.mustVerify) {
    problems.push(`a valid re-encoding was rejected: ${direct.code}: ${direct.message}`);
  }
  // The release verifier must agree: verified exactly when this digest's own payload verified.
  const payloads = new Map([
    [o.digest, o.payload],
    [o.other.digest, o.other.payload],
  ]);
  for (const r of res.release) {
    if (r.kind === 'threw') {
      problems.push(`GpgReleaseVerifier.verify(${r.digest}) threw: ${r.detail}`);
      continue;
    }
    const payload = payloads.get(r.digest);
    const expected =
      direct.kind === 'ok' && payload !== undefined && sameBytes(direct.data, payload);
    if (r.verified !== expected) {
      problems.push(
        `GpgReleaseVerifier.verify(${r.digest}) said verified=${String(r.verified)} (${r.code ?? ''}), expected ${String(expected)}`,
      );
    }
  }
  return problems;
}

async function runMutants(
  t: TestContext,
  name: string,
  worker: VerifyWorker,
  originals: readonly Original[],
  seed: number,
): Promise<void> {
  const findings: Finding[] = [];
  const stats = new Map<string, FamilyStats>();
  let total = 0;
  const started = performance.now();
  for (const [index, o] of originals.entries()) {
    assert.ok(o.expected, `${o.label}: the unmutated original must verify first`);
    // One PRNG stream per original, so the choices for one do not depend on the others.
    const rng = new Rng((seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
    for (const m of mutate(o, rng)) {
      total++;
      const res = await worker.verify(o.keyring, m.input, [o.digest, ...m.extraDigests]);
      const problems = judge(o, m, res);
      const s = stats.get(m.family) ?? {
        mutants: 0,
        verified: 0,
        codes: new Map<string, number>(),
      };
      stats.set(m.family, s);
      s.mutants++;
      if (res !== 'hang' && res.direct?.kind === 'ok') s.verified++;
      if (res !== 'hang' && res.direct?.kind === 'rejected') {
        s.codes.set(res.direct.code, (s.codes.get(res.direct.code) ?? 0) + 1);
      }
      for (const problem of problems) {
        findings.push({
          original: o.label,
          family: m.family,
          mutation: m.note,
          problem,
          inputHex: hex(m.input),
        });
      }
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  t.diagnostic(`seed ${seed}: ${total} mutants of ${originals.length} original(s) in ${seconds} s`);
  for (const [family, s] of [...stats].sort(([a], [b]) => a.localeCompare(b))) {
    const codes = [...s.codes].map(([code, n]) => `${code} ${n}`).join(', ');
    t.diagnostic(
      `  ${family}: ${s.mutants} mutants, ${s.verified} still verify; rejected: ${codes || 'none'}`,
    );
  }
  if (findings.length > 0) {
    const file = join(tmpdir(), `cvo-mutation-findings-${name}-${seed}-${process.pid}.json`);
    await writeFile(file, JSON.stringify(findings, null, 2));
    const shown = findings
      .slice(0, 5)
      .map(
        (f) =>
          `- ${f.original} / ${f.family} / ${f.mutation}: ${f.problem}\n  input: ${f.inputHex}`,
      )
      .join('\n');
    assert.fail(
      `${findings.length} problem(s) in ${total} mutants (MUTATION_SEED=${seed}); all in ${file}:\n${shown}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The tests.

function chooseSeed(): number {
  const raw = process.env.MUTATION_SEED;
  if (raw === undefined || raw === '') return randomInt(0, 2 ** 32);
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new Error(
      `MUTATION_SEED must be an integer from 0 to 4294967295, not ${JSON.stringify(raw)}`,
    );
  }
  return seed;
}

async function checkOriginal(worker: VerifyWorker, o: Original): Promise<void> {
  const unrelated = randomDigest();
  const res = await worker.verify(o.keyring, o.wire, [o.digest, unrelated]);
  assert.notEqual(res, 'hang', `${o.label}: verification hung`);
  if (res === 'hang') return;
  assert.equal(res.error, undefined, `${o.label}: ${res.error ?? ''}`);
  const { direct, release } = res;
  assert.ok(direct && release);
  if (direct.kind !== 'ok') {
    assert.fail(`${o.label}: the unmutated original must verify: ${JSON.stringify(direct)}`);
  }
  assert.ok(
    sameBytes(direct.data, o.payload),
    `${o.label}: verified data differs from the payload`,
  );
  assert.deepEqual(
    release.map((r) => (r.kind === 'result' ? r.verified : r.detail)),
    [true, false],
    `${o.label}: the release verifier must accept ${o.digest} and only it`,
  );
  o.expected = direct.signer;
  // The message for the other digest: its signer, when it verifies with this keyring.
  const other = await worker.verify(o.keyring, serialize(o.other.packets), []);
  if (other !== 'hang' && other.direct?.kind === 'ok') o.other.expected = other.direct.signer;
}

const isWorker = !isMainThread && (workerData as { role?: unknown } | null)?.role === WORKER_ROLE;

if (isWorker) {
  workerMain(parentPort!);
} else {
  const seed = chooseSeed();
  console.log(
    `[mutation.test] MUTATION_SEED=${seed} (set it to repeat these mutation choices; GnuPG makes fresh keys and signatures every run)`,
  );

  describe('signed-message mutations', () => {
    let gpg: GnuPG | undefined;
    let worker: VerifyWorker | undefined;
    const originals: Original[] = [];

    before(async () => {
      worker = VerifyWorker.start();
      gpg = await GnuPG.create();
      const rsa = await gpg.generateKey('Mutation RSA <rsa@mutation.test>', 'rsa2048');
      const ed = await gpg.generateKey('Mutation Ed25519 <ed25519@mutation.test>', 'ed25519');
      // One armored block holding both keys: a second block would not be read (as Go).
      const keyring = await gpg.exportPublicKey([rsa, ed]);
      await worker.loadKeyring('gpg', keyring);
      // Binary only: armored signed messages are refused as library-go refuses them.
      const variants = [
        { compress: true, armor: false },
        { compress: false, armor: false },
      ];
      for (const [name, key] of [
        ['rsa', rsa],
        ['ed25519', ed],
      ] as const) {
        const sign = (payload: string, options: object): Promise<Buffer> =>
          gpg!.sign(payload, { key: `${key.fingerprint}!`, ...options });
        const otherDigest = randomDigest();
        const other = makeMessage(
          await sign(atomicPayload(otherDigest), { compress: false }),
          otherDigest,
        );
        for (const v of variants) {
          const digest = randomDigest();
          const wire = await sign(atomicPayload(digest), v);
          const label = `${name} ${v.compress ? 'compressed' : 'uncompressed'} ${v.armor ? 'armored' : 'binary'}`;
          originals.push(makeOriginal(label, 'gpg', wire, digest, other));
        }
        if (name === 'rsa') {
          const digest = randomDigest();
          const wire = await sign(atomicPayload(digest), { compress: false, textMode: true });
          originals.push(
            makeOriginal('rsa text-mode uncompressed binary', 'gpg', wire, digest, other),
          );
        }
      }
    });

    after(async () => {
      await worker?.close();
      await gpg?.cleanup();
    });

    it('verifies every unmutated GnuPG-made original (so the oracle can fail)', async () => {
      assert.equal(originals.length, 5);
      for (const o of originals) await checkOriginal(worker!, o);
      // The oracle itself: a swapped payload must be caught.
      const o = originals[0]!;
      let swapped: Mutant | undefined;
      for (const m of mutate(o, new Rng(seed))) {
        if (m.family === 'payload of another digest') swapped ??= m;
      }
      assert.ok(swapped);
      const res = await worker!.verify(o.keyring, swapped.input, [o.digest]);
      assert.ok(
        res !== 'hang' && res.direct?.kind === 'rejected',
        'a swapped payload must not verify',
      );
    });

    it('rejects or exactly reproduces every mutant of GnuPG-made messages', async (t) => {
      for (const o of originals) if (o.expected === undefined) await checkOriginal(worker!, o);
      await runMutants(t, 'gnupg', worker!, originals, seed);
    });

    it('rejects or exactly reproduces every mutant of the Red Hat V3 fixture', async (t) => {
      await withSharedFixture(t, 'library-go', async (dir) => {
        await worker!.loadKeyring('redhat', await readFile(join(dir, 'keyrings', 'redhat.txt')));
        const signature = (digest: string): Promise<Buffer> =>
          readFile(join(dir, 'signatures', digest.replace(':', '='), 'signature-1'));
        const other = makeMessage(await signature(OPENSHIFT_CI_DIGEST), OPENSHIFT_CI_DIGEST);
        const v3 = makeOriginal(
          'Red Hat V3 fixture',
          'redhat',
          await signature(REDHAT_V3_DIGEST),
          REDHAT_V3_DIGEST,
          other,
        );
        await checkOriginal(worker!, v3);
        assert.equal(v3.expected?.version, 3);
        assert.equal(v3.expected.keyId, REDHAT_V3_KEY_ID);
        await runMutants(t, 'redhat-v3', worker!, [v3], seed);
      });
    });
  });
}
