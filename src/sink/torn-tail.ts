/**
 * After a crash (kill -9 of the writer, power loss) the target may end in the middle of a line. Before anything
 * new is appended, the bytes after the last newline are moved to `<target>.torn-<time>` and cut from the target,
 * so the target stays valid JSON lines and the cut bytes are kept for whoever wants them.
 */
import { promises as fsp } from 'node:fs';
import type { Reporter } from '../core/report';

const CHUNK = 64 * 1024;

export async function repairTornTail(path: string, reporter: Reporter): Promise<void> {
  const fh = await fsp.open(path, 'r+');
  try {
    const { size } = await fh.stat();
    if (size === 0) return;
    const last = Buffer.alloc(1);
    await fh.read(last, 0, 1, size - 1);
    if (last[0] === 0x0a) return;
    // Find the last newline, reading backwards.
    let cut = 0;
    const buf = Buffer.alloc(CHUNK);
    for (let end = size; end > 0; end -= CHUNK) {
      const start = Math.max(0, end - CHUNK);
      const { bytesRead } = await fh.read(buf, 0, end - start, start);
      const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (nl >= 0) {
        cut = start + nl + 1;
        break;
      }
    }
    const tail = Buffer.alloc(size - cut);
    await fh.read(tail, 0, tail.length, cut);
    const stamp = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    const tornPath = `${path}.torn-${stamp}`;
    await fsp.writeFile(tornPath, tail, { flag: 'wx' });
    await fh.truncate(cut);
    await fh.sync();
    reporter.info(`the last line of ${path} was cut (${tail.length} bytes, probably by a crash); moved it to ${tornPath}`);
  } finally {
    await fh.close();
  }
}
