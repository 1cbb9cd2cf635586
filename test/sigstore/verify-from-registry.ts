// Fetch, then verify: what src/verify/sigstore-checks.ts does for one form of signature, for
// tests and benches that exercise the adapter and the pure verifier together against a registry.
import { fetchBundleReferrers, fetchSignatureLayers } from '../../src/sigstore/fetch-signatures.js';
import type { SignatureRegistry } from '../../src/sigstore/fetch-signatures.js';
import { parseSignatureTrust } from '../../src/sigstore/signature-trust.js';
import type { TrustConfig } from '../../src/sigstore/signature-trust.js';
import type { SignedIdentity } from '../../src/sigstore/signed-identity.js';
import { createSignatureVerifier, resolveImage } from '../../src/sigstore/verify-signatures.js';
import type {
  BundleVerdict,
  ImageToVerify,
  LayerVerdict,
} from '../../src/sigstore/verify-signatures.js';

export interface VerifyFromRegistryOptions {
  readonly trust: TrustConfig;
  readonly signedIdentity: SignedIdentity;
  readonly signal: AbortSignal;
  readonly maxLayers?: number;
}

/** Configuration errors (trust, identity, reference) throw here, before any request. */
function prepare(image: ImageToVerify, options: VerifyFromRegistryOptions) {
  const trust = parseSignatureTrust(options.trust);
  const verifier = createSignatureVerifier(trust, options.signedIdentity);
  return { verifier, resolved: resolveImage(image) };
}

/** The image's legacy `.sig` signatures. */
export async function verifyLayersFromRegistry(
  registry: SignatureRegistry,
  image: ImageToVerify,
  options: VerifyFromRegistryOptions,
): Promise<LayerVerdict> {
  const { verifier, resolved } = prepare(image, options);
  const fetched = await fetchSignatureLayers(registry, resolved, {
    signal: options.signal,
    requiredAnnotations: verifier.layerAnnotations,
    ...(options.maxLayers !== undefined ? { maxLayers: options.maxLayers } : {}),
  });
  return verifier.verifyLayers(fetched);
}

/** The image's cosign v3 bundle referrers. */
export async function verifyBundlesFromRegistry(
  registry: SignatureRegistry,
  image: ImageToVerify,
  options: VerifyFromRegistryOptions,
): Promise<BundleVerdict> {
  const { verifier, resolved } = prepare(image, options);
  return verifier.verifyBundles(
    await fetchBundleReferrers(registry, resolved, { signal: options.signal }),
  );
}
