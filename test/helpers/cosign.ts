export * from '../../testbed/cosign-signer.js';
