import type { Clock } from './clock.js';
import { createDeadline } from './clock.js';
import type { Logger } from '../observability/logger.js';
import type { ClusterVersion } from '../kube/types.js';
import type {
  ClusterVerification,
  ReleaseVerifierPort,
  VerifyCallOptions,
} from './verification-port.js';

/** What {@link verifyWithinBudget} needs of the controller that calls it. */
export interface VerificationBudget {
  readonly verifier: ReleaseVerifierPort;
  readonly clock: Clock;
  readonly budgetMs: number;
  readonly logger: Logger;
}

/**
 * Verifies `image` with a signal that aborts when the reconcile budget runs out or `lifetime`
 * ends (the controller stopped). Undefined when it stopped: the caller writes nothing. When the
 * budget ran out first, an unverified or unfinished verdict becomes ABORTED, saying so (fail
 * closed); a verdict that verified in time stands. Shared by the gate and companion controllers.
 */
export async function verifyWithinBudget(
  budget: VerificationBudget,
  image: string,
  cv: ClusterVersion,
  lifetime: AbortSignal,
  call: VerifyCallOptions,
): Promise<ClusterVerification | undefined> {
  if (lifetime.aborted) return undefined;
  const { budgetMs } = budget;
  const deadline = createDeadline(budget.clock, budgetMs, 'the reconcile budget');
  const signal = AbortSignal.any([lifetime, deadline.signal]);
  let verification: ClusterVerification | undefined;
  try {
    verification = await budget.verifier.verify(image, cv, signal, call);
  } catch (err) {
    // A verifier may report being aborted by throwing: then it is one of the two cases below.
    if (!signal.aborted) throw err;
  } finally {
    deadline.dispose();
  }
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may run during the verification
  if (lifetime.aborted) return undefined;
  if (verification !== undefined && (verification.outcome.verified || !deadline.signal.aborted))
    return verification;
  const message = `verification did not finish within the reconcile budget of ${String(budgetMs)} ms`;
  budget.logger.warn('verification exceeded the reconcile budget', { image, budgetMs });
  return {
    outcome: {
      verified: false,
      code: 'ABORTED',
      message,
      summary: message,
      details:
        verification !== undefined
          ? [verification.outcome.message, ...verification.outcome.details]
          : [],
    },
    signatures: [],
    digest: verification?.digest ?? null,
    ...(verification?.payload !== undefined ? { payload: verification.payload } : {}),
  };
}
