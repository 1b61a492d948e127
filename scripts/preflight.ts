/**
 * Runs before the test suite (`npm test`'s pretest): lists every tool the suite needs that is missing, with the
 * command that installs it, and exits 1 — instead of a `spawn haproxy ENOENT` from deep inside a test.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const has = (cmd: string, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

const problems: string[] = [];
for (const [cmd, args, why] of [
  ['python3', ['--version'], 'the Python clients (SocketHandler, DatagramHandler, HTTPHandler) and the reference decoder'],
  ['tmux', ['-V'], 'log-server tail --follow in a real terminal'],
  ['nats-server', ['--version'], 'forwarding to NATS JetStream'],
  ['haproxy', ['-v'], 'two receivers behind a load balancer'],
  ['openssl', ['version'], 'certificates made by the tests'],
] as const) {
  if (!has(cmd, [...args])) problems.push(`${cmd} is missing (needed for ${why})`);
}
if (!existsSync(join(ROOT, 'build', 'Release', 'transcode.node')))
  problems.push('the C++ transcoder is not built (needs g++ and make; then `npm run install`)');
if (process.getuid?.() !== 0) problems.push('not root: the disk-full tests mount a small tmpfs');

if (problems.length > 0) {
  process.stderr.write(
    `The test suite cannot run here:\n${problems.map((p) => `  - ${p}`).join('\n')}\nInstall what is missing with: bash scripts/install-test-deps.sh (then npm ci if the transcoder was not built)\n`,
  );
  process.exit(1);
}
