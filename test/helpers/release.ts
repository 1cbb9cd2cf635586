export * from '../../src/demo/synthetic-release.js';
