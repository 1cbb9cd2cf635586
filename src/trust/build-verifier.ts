import type { Dispatcher } from 'undici';

import { VerifyError } from '../errors.js';
import { validatePolicyObject } from '../policy/validate.js';
import type { PolicyObject } from '../policy/types.js';
import type { RegistryClient } from '../registry/client.js';
import { ConfigMapSignatureStore } from '../stores/configmap-store.js';
import { createStoreFromUrl } from '../stores/create-store.js';
import { redactUrl } from '../stores/http-store.js';
import type { SignatureStore } from '../stores/store.js';
import { GpgReleaseVerifier } from '../verify/gpg-verifier.js';
import type { GpgResult } from '../verify/gpg-verifier.js';
import type { SigstoreConfig } from '../verify/sigstore-checks.js';
import type { LruCache } from '../verify/verdict-cache.js';
import { apiObject } from './cluster-inputs.js';
import type { GpgTrustInputs } from './cluster-inputs.js';

/** Long-lived things a built verifier uses; owned (and closed) by whoever composes the service. */
export interface GpgResources {
  /** The HTTP dispatcher for stores trusting the system roots plus `ca` (PEM), when given. */
  readonly dispatcherFor: (ca: string | undefined) => Dispatcher;
  readonly cache: LruCache<GpgResult>;
  readonly budgetMs: number;
  readonly requestTimeoutMs?: number;
}

/**
 * The CVO's GPG verifier from the cluster's trust inputs, without I/O. Store order (CVO):
 * signature ConfigMaps, then spec.signatureStores when set (they replace the defaults) or else
 * the root of trust's `store-*` URLs. A store whose CA ConfigMap has no certificate is not
 * honored (a note says so); an empty spec.signatureStores is refused with the CVO's words.
 */
export function buildGpgVerifier(
  inputs: GpgTrustInputs,
  resources: GpgResources,
  notes: string[],
): GpgReleaseVerifier {
  const storeOptions = {
    baseDir: '/',
    dispatcher: resources.dispatcherFor(inputs.clusterCa),
    ...(resources.requestTimeoutMs !== undefined
      ? { requestTimeoutMs: resources.requestTimeoutMs }
      : {}),
  };
  const stores: SignatureStore[] = [
    new ConfigMapSignatureStore(inputs.listSignatureConfigMaps, inputs.signatureConfigMapsName),
  ];
  const specStores = inputs.signatureStores;
  if (specStores === undefined) {
    stores.push(...inputs.rootOfTrust.stores.map((s) => createStoreFromUrl(s.url, storeOptions)));
  } else if (specStores.length === 0) {
    throw new VerifyError(
      'NO_STORES',
      'ClusterVersion spec.signatureStores is an empty array. Unset signatureStores entirely if you want to enable the default signature stores',
    );
  } else {
    for (const store of specStores) {
      if (store.ca === undefined) {
        stores.push(createStoreFromUrl(store.url, storeOptions));
        continue;
      }
      const { pem, configMap } = store.ca;
      if (pem === undefined || !pem.includes('-----BEGIN CERTIFICATE-----')) {
        notes.push(
          `signature store ${redactUrl(store.url)} is not honored: config map ${configMap} has no valid ca.crt`,
        );
        continue;
      }
      stores.push(
        createStoreFromUrl(store.url, {
          ...storeOptions,
          dispatcher: resources.dispatcherFor(pem),
        }),
      );
    }
  }
  return new GpgReleaseVerifier({
    trust: inputs.rootOfTrust,
    stores,
    budgetMs: resources.budgetMs,
    cache: resources.cache,
  });
}

/** Scopes read from an object that does not validate: at most what the CRD allows. */
const MAX_UNUSABLE_SCOPES = 256;
const MAX_SCOPE_CHARS = 512;

/**
 * A ClusterImagePolicy that does not validate, kept for its scopes (see PolicyObject.unusable).
 * Scopes that cannot be read (which the API server's structural schema never lets in) fail the
 * verification: which images the policy guards is unknown, so none may pass by its absence.
 */
function unusablePolicy(name: string, spec: unknown, reason: string): PolicyObject {
  const scopes = (spec as { scopes?: unknown } | undefined)?.scopes;
  if (
    !Array.isArray(scopes) ||
    scopes.length === 0 ||
    scopes.length > MAX_UNUSABLE_SCOPES ||
    !scopes.every((s): s is string => typeof s === 'string' && s.length <= MAX_SCOPE_CHARS)
  ) {
    throw new VerifyError(
      'INVALID_POLICY',
      `ClusterImagePolicy ${name} cannot be used and its scopes cannot be read, so no image can be verified: ${reason}`,
    );
  }
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: 'ClusterImagePolicy',
    name,
    spec: {
      scopes,
      policy: { rootOfTrust: { policyType: 'PublicKey', publicKey: { keyData: '' } } },
    },
    source: `clusterimagepolicy/${name}`,
    unusable: reason,
  };
}

/**
 * The Sigstore (CRI-O) side from the cluster's ClusterImagePolicies as the API server returned
 * them. An object that does not validate here (the v1alpha1 CRD lets some in) is kept as an
 * unusable policy: images in its scopes are refused, with a note naming it.
 */
export function buildSigstoreConfig(
  objects: readonly unknown[],
  client: RegistryClient,
  notes: string[],
): SigstoreConfig {
  const policies: PolicyObject[] = [];
  for (const item of objects) {
    const object = apiObject(item);
    const { name } = object.metadata;
    try {
      policies.push(
        validatePolicyObject(
          { ...object, kind: object.kind ?? 'ClusterImagePolicy' },
          `clusterimagepolicy/${name}`,
        ),
      );
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      // Never dropped: a policy the cluster holds still guards its scopes, as a refusal.
      policies.push(unusablePolicy(name, object.spec, reason));
      notes.push(
        `ClusterImagePolicy ${name} cannot be used, so images in its scopes are refused: ${reason}`,
      );
    }
  }
  return { policies, client };
}
