export * from '../../testbed/synthetic-release.js';
