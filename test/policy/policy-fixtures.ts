import { generateKeyPairSync } from 'node:crypto';

/** A fresh P-256 public key as PEM, made at test time. */
export function publicKeyPem(): string {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** A plain JSON value we can mutate freely in table tests. */
export type Plain = Record<string, unknown>;

export function clone<T>(value: T): T {
  return structuredClone(value);
}

export function publicKeyPolicy(
  keyPem: string,
  overrides: { kind?: string; name?: string; namespace?: string; scopes?: string[] } = {},
): Plain {
  return {
    apiVersion: 'config.openshift.io/v1',
    kind: overrides.kind ?? 'ClusterImagePolicy',
    metadata: {
      name: overrides.name ?? 'p',
      ...(overrides.namespace !== undefined ? { namespace: overrides.namespace } : {}),
    },
    spec: {
      scopes: overrides.scopes ?? ['example.com/ns/repo'],
      policy: { rootOfTrust: { policyType: 'PublicKey', publicKey: { keyData: b64(keyPem) } } },
    },
  };
}

/** Sets `value` at a dotted path (numeric segments index arrays); undefined deletes. */
export function setPath(obj: Plain, path: string, value: unknown): Plain {
  const keys = path.split('.');
  let node = obj as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] ?? '';
  if (value === undefined) Reflect.deleteProperty(node, last);
  else node[last] = value;
  return obj;
}
