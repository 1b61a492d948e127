/**
 * Builds of other git revisions, for before/after runs: each revision is checked out with
 * `git worktree add --detach` under bench/builds/<rev>, compiled with this checkout's TypeScript and
 * node_modules (and its C++ transcoder, where it has one), and kept for the next run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');

/** Builds `rev` (once) and returns its short hash; its compiled files are in buildDist(hash). */
export function build(rev: string): string {
  const hash = execFileSync('git', ['rev-parse', '--short', rev], { cwd: ROOT }).toString().trim();
  const dir = join(ROOT, 'bench', 'builds', hash);
  if (!existsSync(join(dir, 'dist', 'cli.js'))) {
    mkdirSync(join(ROOT, 'bench', 'builds'), { recursive: true });
    if (!existsSync(dir)) execFileSync('git', ['worktree', 'add', '--detach', dir, hash], { cwd: ROOT, stdio: 'ignore' });
    if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.build.json')], {
      stdio: 'inherit',
    });
  }
  // Revisions with the C++ transcoder: built by their own install script (node-gyp), as npm ci does.
  if (existsSync(join(dir, 'binding.gyp')) && !existsSync(join(dir, 'build', 'Release', 'transcode.node'))) {
    execFileSync('npm', ['run', 'install'], { cwd: dir, stdio: 'ignore' });
  }
  return hash;
}

/** The compiled files of a build made by build(). */
export function buildDist(hash: string): string {
  return join(ROOT, 'bench', 'builds', hash, 'dist');
}
