export * from '../../src/demo/cosign-signer.js';
