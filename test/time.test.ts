/**
 * created_human against Python's own datetime.fromtimestamp(...).strftime(...)[:-3], in several time zones
 * (including half-hour and DST-switching ones), for timestamps that test microsecond rounding and carries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { makeHumanTime } from '../src/format/time';

const stamps = [
  1695651604.501,
  1695651604.9995,
  1695651604.9999995,
  1695651604.0,
  0.5,
  1e9 + 0.0005,
  1700000000,
  1711846799.999,
  1711846800.001,
  1730591999.9996,
  1730592000.0004,
  253402214400.25,
  1.0000005,
  1695651604.0625,
  1695651604.1234565,
];
const zones = ['UTC', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Europe/Berlin', 'Pacific/Chatham'];

function pythonTimes(tz: string, utc: boolean): string[] {
  const code = `
import json, sys
from datetime import datetime, timezone
stamps = json.loads(sys.argv[1])
tz = timezone.utc if sys.argv[2] == 'utc' else None
print(json.dumps([datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] for t in stamps]))`;
  const out = execFileSync('python3', ['-c', code, JSON.stringify(stamps), utc ? 'utc' : 'local'], { env: { ...process.env, TZ: tz } });
  return JSON.parse(out.toString());
}

test('created_human matches Python in every time zone, local and --utc', () => {
  const saved = process.env.TZ;
  try {
    for (const tz of zones) {
      process.env.TZ = tz;
      for (const utc of [false, true]) {
        const human = makeHumanTime(utc);
        assert.deepEqual(stamps.map(human), pythonTimes(tz, utc), `TZ=${tz} utc=${utc}`);
      }
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('1695651604.501 ends in .501 (not .500 as new Date() would give)', () => {
  assert.equal(makeHumanTime(true)(1695651604.501), '2023-09-25 14:20:04.501');
});
