import type {
  ClusterVerification,
  ReleaseVerifierPort,
  VerifyCallOptions,
} from '../../src/controller/verification-port.js';
import type { ClusterVersion } from '../../src/kube/types.js';

/** One verify() call as the fake saw it. */
export interface VerifyCall {
  readonly image: string;
  readonly cv: ClusterVersion;
  readonly signal: AbortSignal | undefined;
  readonly options: VerifyCallOptions | undefined;
}

/**
 * What the fake does for an image: a verdict at once, or a verification that runs until its
 * signal aborts and then reports it the way real verifiers do, by rejecting with the signal's
 * reason or by resolving with an unverified verdict ("verification was cancelled"); or one that
 * ignores its signal and resolves only when the test says.
 */
export type FakeBehaviour =
  | { readonly kind: 'verdict'; readonly verification: ClusterVerification }
  | { readonly kind: 'until-aborted'; readonly then: 'reject' | 'resolve' }
  | { readonly kind: 'manual' };

export function verifiedVerdict(
  image: string,
  signer = 'Release Engineering',
): ClusterVerification {
  return {
    outcome: {
      verified: true,
      message: `verified ${image}`,
      details: [],
      summary: `verifier-public-key-redhat: signed by ${signer}`,
    },
    signatures: [new TextEncoder().encode(`signature of ${image}`)],
    digest: image.split('@')[1] ?? null,
  };
}

export function refusedVerdict(
  image: string,
  code: NonNullable<ClusterVerification['outcome']['code']> = 'NOT_SIGNED',
  message = `unable to verify ${image.split('@')[1] ?? image} against keyrings: verifier-public-key-redhat`,
): ClusterVerification {
  return {
    outcome: {
      verified: false,
      code,
      message,
      details: ['store https://mirror.example/signatures: 404 Not Found'],
      summary: 'no signature found',
    },
    signatures: [],
    digest: image.split('@')[1] ?? null,
  };
}

/**
 * A ReleaseVerifierPort scripted per image, recording every call (and the signal it got), for
 * controller unit tests. An image with no behaviour is refused (NOT_SIGNED).
 */
export class FakeReleaseVerifier implements ReleaseVerifierPort {
  readonly calls: VerifyCall[] = [];
  private readonly behaviours = new Map<string, FakeBehaviour>();
  private readonly manual: ((verification: ClusterVerification) => void)[] = [];

  accept(image: string): void {
    this.behaviours.set(image, { kind: 'verdict', verification: verifiedVerdict(image) });
  }

  refuse(image: string, code?: NonNullable<ClusterVerification['outcome']['code']>): void {
    this.behaviours.set(image, { kind: 'verdict', verification: refusedVerdict(image, code) });
  }

  behave(image: string, behaviour: FakeBehaviour): void {
    this.behaviours.set(image, behaviour);
  }

  /** Resolves the oldest verification of kind 'manual' still running. */
  finish(verification: ClusterVerification): void {
    const next = this.manual.shift();
    if (next === undefined)
      throw new Error('FakeReleaseVerifier: no manual verification is running');
    next(verification);
  }

  callsFor(image: string): VerifyCall[] {
    return this.calls.filter((c) => c.image === image);
  }

  verify(
    image: string,
    cv: ClusterVersion,
    signal?: AbortSignal,
    options?: VerifyCallOptions,
  ): Promise<ClusterVerification> {
    this.calls.push({ image, cv: structuredClone(cv), signal, options });
    const behaviour = this.behaviours.get(image) ?? {
      kind: 'verdict',
      verification: refusedVerdict(image),
    };
    switch (behaviour.kind) {
      case 'verdict':
        return Promise.resolve(structuredClone(behaviour.verification));
      case 'until-aborted':
        return new Promise<ClusterVerification>((resolve, reject) => {
          const onAbort = (): void => {
            if (behaviour.then === 'reject') {
              reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
            } else {
              const refused = refusedVerdict(image, 'NOT_SIGNED');
              resolve({
                ...refused,
                outcome: {
                  ...refused.outcome,
                  details: [...refused.outcome.details, 'verification was cancelled'],
                },
              });
            }
          };
          if (signal === undefined) return; // never ends: what an unbounded verification does
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        });
      case 'manual':
        return new Promise<ClusterVerification>((resolve) => this.manual.push(resolve));
      default: {
        const never: never = behaviour;
        throw new Error(`unknown behaviour ${JSON.stringify(never)}`);
      }
    }
  }
}
