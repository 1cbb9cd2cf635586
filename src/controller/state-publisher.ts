import { KubeApiError } from '../kube/client.js';
import type { ConfigMapPort } from '../kube/client.js';
import type { ConfigMap } from '../kube/types.js';
import type { PayloadVerification } from './verification-port.js';

/** The key under which the state JSON is stored in its ConfigMap. */
export const STATE_KEY = 'state.json';
/** Verdicts kept, newest first, and evidence lines kept per verdict. */
const MAX_VERDICTS = 10;
const MAX_DETAILS = 20;
/** Failing payload components kept per verdict (the count stays in the summary). */
export const MAX_PUBLISHED_FAILURES = 20;

export interface PublishedVerdict {
  readonly image: string;
  readonly verified: boolean;
  readonly code?: string;
  readonly message: string;
  readonly summary: string;
  readonly details: readonly string[];
  readonly checkedAt: string;
  /** The whole-payload verdict, when one was made (failing components capped). */
  readonly payload?: PublishedPayload;
}

/** The payload verdict as published: the failing components capped. */
export type PublishedPayload = Pick<
  PayloadVerification,
  'mode' | 'verified' | 'message' | 'summary' | 'failing'
>;

export interface PublishedRecheck {
  readonly kind: 'history' | 'target';
  readonly image: string;
  readonly attempts: number;
  readonly nextAt: string;
}

/** What `cvo-verifier status` shows beyond the ClusterVersion: evidence and re-check times. */
export interface PublishedState {
  readonly updatedAt: string;
  readonly identity: string;
  readonly verdicts: readonly PublishedVerdict[];
  readonly rechecks: readonly PublishedRecheck[];
}

/**
 * Publishes the leader's view of its verifications to a ConfigMap in its own namespace, so the
 * CLI (and people with kubectl) can read the evidence behind a verdict and when the next
 * background re-check runs, without access to the service's logs.
 */
export class StatePublisher {
  private readonly kube: ConfigMapPort;
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private verdicts: PublishedVerdict[] = [];

  constructor(kube: ConfigMapPort, namespace: string, name: string, identity: string) {
    this.kube = kube;
    this.namespace = namespace;
    this.name = name;
    this.identity = identity;
  }

  record(verdict: Omit<PublishedVerdict, 'details'> & { details: readonly string[] }): void {
    const entry = { ...verdict, details: verdict.details.slice(0, MAX_DETAILS) };
    this.verdicts = [entry, ...this.verdicts.filter((v) => v.image !== verdict.image)].slice(
      0,
      MAX_VERDICTS,
    );
  }

  async publish(rechecks: readonly PublishedRecheck[], now: Date): Promise<void> {
    const state: PublishedState = {
      updatedAt: now.toISOString(),
      identity: this.identity,
      verdicts: this.verdicts,
      rechecks,
    };
    const data = { [STATE_KEY]: JSON.stringify(state, null, 2) };
    for (let attempt = 1; ; attempt++) {
      const existing = await this.kube.getConfigMap(this.namespace, this.name);
      try {
        if (existing === undefined) {
          await this.kube.createConfigMap(this.namespace, {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: {
              name: this.name,
              namespace: this.namespace,
              labels: { 'app.kubernetes.io/name': 'cvo-update-verifier' },
            },
            data,
          });
        } else {
          // Other keys (the companion's verdict record) belong to other writers: kept.
          await this.kube.replaceConfigMap(this.namespace, {
            ...existing,
            data: { ...(existing.data ?? {}), ...data },
          });
        }
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409 && attempt < 3)) throw err;
      }
    }
  }
}

/** Reads a published state, or undefined when the ConfigMap holds none or garbage. */
export function parsePublishedState(cm: ConfigMap | undefined): PublishedState | undefined {
  const text = cm?.data?.[STATE_KEY];
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as PublishedState;
    return Array.isArray(value.verdicts) && Array.isArray(value.rechecks) ? value : undefined;
  } catch {
    return undefined;
  }
}
