// Self-signed certificates made with openssl at run time (tests and `bench --tls`): nothing secret
// is committed, and the files live in a temporary directory of the run.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Installs Debian's openssl when the machine has none (fresh containers may not). */
function ensureOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    execFileSync('apt-get', ['install', '-y', 'openssl'], { stdio: 'ignore' });
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export interface CertFiles {
  certFile: string;
  keyFile: string;
}

/** A self-signed server certificate for localhost and 127.0.0.1, valid two days. */
export function selfSignedCert(dir: string, name = 'server'): CertFiles {
  ensureOpenssl();
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  openssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  return { certFile, keyFile };
}

/** A certificate `name` signed by the CA `ca` (for client certificates). */
export function signedCert(dir: string, ca: CertFiles, name: string): CertFiles {
  ensureOpenssl();
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  openssl(['req', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '2']);
  return { certFile, keyFile };
}

const TLS_DIR_VAR = 'CARTWIRE_BENCH_TLS_DIR';

/** The server's TLS environment when the bench runs with `--tls`. */
export function benchTlsEnv(): Record<string, string> {
  const dir = process.env[TLS_DIR_VAR];
  return dir ? { TLS_CERT_FILE: join(dir, 'server.pem'), TLS_KEY_FILE: join(dir, 'server.key') } : {};
}

/**
 * `bench --tls`: makes a certificate and runs this command again with NODE_EXTRA_CA_CERTS naming
 * it (Node reads that variable only at start), so every load process, WebSocket and fetch of the
 * run trusts the server. Returns the exit code, or undefined when this process is already that run.
 */
export async function rerunWithTls(argv: readonly string[]): Promise<number | undefined> {
  if (!argv.includes('--tls') || process.env[TLS_DIR_VAR]) return undefined;
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { spawn } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-bench-tls-'));
  try {
    const { certFile } = selfSignedCert(dir);
    const child = spawn(process.execPath, argv.slice(1), { stdio: 'inherit', env: { ...process.env, [TLS_DIR_VAR]: dir, NODE_EXTRA_CA_CERTS: certFile } });
    return await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
