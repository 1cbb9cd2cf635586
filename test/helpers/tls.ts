import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A test CA, an unrelated CA, and a server certificate for 127.0.0.1 (and more names) signed by the first. */
export interface TestPki {
  readonly caPem: string;
  readonly otherCaPem: string;
  readonly serverKey: string;
  readonly serverCert: string;
  /**
   * A client certificate (extendedKeyUsage clientAuth) with subject CN `cn` and the given DNS
   * SANs, signed by the test CA or, with `ca: 'other'`, by the unrelated one.
   */
  issueClientCert(
    cn: string,
    options?: { dnsNames?: readonly string[]; ca?: 'test' | 'other' },
  ): Promise<{ cert: string; key: string }>;
  cleanup(): Promise<void>;
}

/**
 * Makes the certificates with the real openssl CLI (Debian `openssl`) in a temp directory.
 * `serverDnsNames` are added to the server certificate's 127.0.0.1 (a Service's DNS name, say).
 */
export async function makeTestPki(
  options: { readonly serverDnsNames?: readonly string[] } = {},
): Promise<TestPki> {
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
      `subjectAltName=${['IP:127.0.0.1', ...(options.serverDnsNames ?? []).map((d) => `DNS:${d}`)].join(',')}`,
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
  let clients = 0;
  return {
    caPem: await read('cvo-test-ca.crt'),
    otherCaPem: await read('cvo-other-ca.crt'),
    serverKey: await read('server.key'),
    serverCert: await read('server.crt'),
    async issueClientCert(cn, options = {}) {
      const name = `client-${String(++clients)}`;
      const ca = options.ca === 'other' ? 'cvo-other-ca' : 'cvo-test-ca';
      // The subject goes in a config file: a CN may hold characters the split-on-space helper
      // and openssl's -subj syntax would mangle.
      await writeFile(
        join(dir, `${name}.cnf`),
        ['[req]', 'distinguished_name=dn', 'prompt=no', '[dn]', `CN=${cn}`, ''].join('\n'),
      );
      await openssl(`req ${ec} -keyout ${name}.key -out ${name}.csr -config ${name}.cnf`);
      const sans = (options.dnsNames ?? []).map((d) => `DNS:${d}`);
      await writeFile(
        join(dir, `${name}.ext`),
        [
          ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
          'basicConstraints=CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=clientAuth',
          '',
        ].join('\n'),
      );
      await openssl(
        `x509 -req -in ${name}.csr -CA ${ca}.crt -CAkey ${ca}.key -CAcreateserial -out ${name}.crt -days 2 -extfile ${name}.ext`,
      );
      return { cert: await read(`${name}.crt`), key: await read(`${name}.key`) };
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
