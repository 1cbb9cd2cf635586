/** A root-of-trust ConfigMap with one keyring and one store, as a release payload carries it. */
export function renderRootOfTrust(armoredKey: string, storeUrl: string, keyring = 'demo'): string {
  return [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: release-verification',
    '  namespace: openshift-config-managed',
    '  annotations:',
    '    release.openshift.io/verification-config-map: ""',
    'data:',
    `  verifier-public-key-${keyring}: |`,
    ...armoredKey
      .trimEnd()
      .split('\n')
      .map((line) => `    ${line}`),
    `  store-${keyring}: ${storeUrl}`,
    '',
  ].join('\n');
}
