import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A test CA, an unrelated CA, and a server certificate for 127.0.0.1 signed by the first. */
export interface TestPki {
  readonly caPem: string;
  readonly otherCaPem: string;
  readonly serverKey: string;
  readonly serverCert: string;
  cleanup(): Promise<void>;
}

/** Makes the certificates with the real openssl CLI (Debian `openssl`) in a temp directory. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'cvo-pki-'));
  // Arguments are split on spaces; paths are relative to `dir`.
  const openssl = (args: string): Promise<void> =>
    new Promise((resolve, reject) => {
      execFile('openssl', args.split(' '), { cwd: dir }, (err, _stdout, stderr) => {
        if (err)
          reject(
            new Error(`openssl ${args} failed (the test command installs openssl): ${stderr}`),
          );
        else resolve();
      });
    });
  const ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';
  for (const ca of ['cvo-test-ca', 'cvo-other-ca']) {
    await openssl(
      `req -x509 ${ec} -keyout ${ca}.key -out ${ca}.crt -days 2 -subj /CN=${ca} ` +
        '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign',
    );
  }
  await openssl(`req ${ec} -keyout server.key -out server.csr -subj /CN=127.0.0.1`);
  await writeFile(
    join(dir, 'server.ext'),
    [
      'subjectAltName=IP:127.0.0.1',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await openssl(
    'x509 -req -in server.csr -CA cvo-test-ca.crt -CAkey cvo-test-ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext',
  );
  const read = (name: string): Promise<string> => readFile(join(dir, name), 'utf8');
  return {
    caPem: await read('cvo-test-ca.crt'),
    otherCaPem: await read('cvo-other-ca.crt'),
    serverKey: await read('server.key'),
    serverCert: await read('server.crt'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
