/**
 * The decoder fixtures made by real Python (scripts/make-fixtures.py): pickles of records with the line the
 * output rules give for them, and pickles that must be refused, with the reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Case {
  name: string;
  protocol: number;
  /** The pickle, base64, without the 4-byte length prefix. */
  pickle: string;
  /** The expected line (created_human in UTC), without its newline. */
  line: string;
}

export interface RefusedCase {
  name: string;
  pickle: string;
  reason: string;
}

const dir = join(__dirname, 'fixtures');
export const decoderCases: Case[] = JSON.parse(readFileSync(join(dir, 'decoder-cases.json'), 'utf8'));
export const refusedCases: RefusedCase[] = JSON.parse(readFileSync(join(dir, 'refused-cases.json'), 'utf8'));

export const b64 = (s: string): Buffer => Buffer.from(s, 'base64');

export function goodCase(name: string, protocol: number): Case {
  const c = decoderCases.find((x) => x.name === name && x.protocol === protocol);
  assert.ok(c, `fixture ${name} p${protocol} not found`);
  return c;
}

export function refusedCase(name: string): RefusedCase {
  const c = refusedCases.find((x) => x.name === name);
  assert.ok(c, `fixture ${name} not found`);
  return c;
}
