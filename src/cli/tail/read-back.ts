/**
 * The last lines of a file, read backwards in blocks from the end: `-n 20` on a multi-GB log reads a few
 * blocks, not the file.
 */
import type { FileHandle } from 'node:fs/promises';

const BLOCK = 64 * 1024;

/**
 * Calls `visit` with each complete line of `fh` before byte `end`, newest first, until it returns false or the
 * start of the file is reached. Lines are decoded as UTF-8 whole (a block boundary inside a character is
 * harmless: lines are cut at "\n" bytes first).
 */
export async function eachLineBackward(fh: FileHandle, end: number, visit: (line: string) => boolean): Promise<void> {
  let pos = end;
  let carry: Buffer[] = []; // the start of the line that continues into later blocks (newest last)
  let last = true; // the (empty) rest after a final "\n" is not a line
  const buf = Buffer.allocUnsafe(BLOCK);
  while (pos > 0) {
    const start = Math.max(0, pos - BLOCK);
    const { bytesRead } = await fh.read(buf, 0, pos - start, start);
    const block = Buffer.from(buf.subarray(0, bytesRead));
    pos = start;
    let stop = block.length;
    for (let nl = block.lastIndexOf(0x0a, stop - 1); nl !== -1; nl = stop > 0 ? block.lastIndexOf(0x0a, stop - 1) : -1) {
      const line = Buffer.concat([block.subarray(nl + 1, stop), ...carry]);
      carry = [];
      stop = nl;
      if (last && line.length === 0) {
        last = false;
        continue;
      }
      last = false;
      if (!visit(line.toString('utf8'))) return;
    }
    carry = [block.subarray(0, stop), ...carry];
  }
  const first = Buffer.concat(carry);
  if (first.length > 0) visit(first.toString('utf8'));
}

/** Where the last complete line ends (just after its "\n"), reading backwards from `size`. */
export async function endOfLastLine(fh: FileHandle, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(BLOCK);
  for (let pos = size; pos > 0;) {
    const start = Math.max(0, pos - BLOCK);
    const { bytesRead } = await fh.read(buf, 0, pos - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (nl !== -1) return start + nl + 1;
    pos = start;
  }
  return 0;
}
