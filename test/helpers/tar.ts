export * from '../../src/demo/tar-writer.js';
