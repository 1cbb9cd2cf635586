export * from '../../testbed/tar-writer.js';
