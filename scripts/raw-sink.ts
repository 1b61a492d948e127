/**
 * The I/O ceiling: a TCP server that reads SocketHandler frames (4-byte big-endian length + payload) and appends
 * each payload unchanged, followed by '\n', to the target file. No decoding, no formatting: what is left is
 * socket reads, framing and large buffered file writes, the floor under any real server's cost.
 *
 *   node --import tsx scripts/raw-sink.ts [--host 127.0.0.1] --port 9020 --target FILE
 *
 * Prints "raw-sink: listening on HOST:PORT, writing /abs/FILE" on stderr; on SIGINT/SIGTERM stops accepting, lets
 * open connections finish (up to 10 s), writes and fsyncs everything and prints
 * "raw-sink: stopped; wrote N records to FILE". The payloads are binary and may contain '\n': the output is
 * checked by size (sum of payload + 1), not by lines.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const WRITE_BYTES = 4 * 1024 * 1024; // most bytes per write(2)
const HIGH_WATER = 32 * 1024 * 1024; // queued bytes at which sockets are paused
const DRAIN_MS = 10_000;
const NL = Buffer.from('\n');

function main(): void {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '9020' },
      target: { type: 'string', default: 'raw-sink.bin' },
    },
    strict: true,
  });
  const target = resolve(values.target);
  const fd = fs.openSync(target, 'a');
  const say = (line: string) => process.stderr.write(`raw-sink: ${line}\n`);

  // ---- the file: a queue of buffers, one write in flight, in order ----
  let queue: Buffer[] = [];
  let queued = 0;
  let writing = false;
  let scheduled = false;
  let written = 0;
  const paused = new Set<net.Socket>();
  const idleWaiters: (() => void)[] = [];

  const writeNext = (): void => {
    if (queue.length === 0) {
      writing = false;
      for (const s of paused) s.resume();
      paused.clear();
      for (const w of idleWaiters.splice(0)) w();
      return;
    }
    writing = true;
    // take whole buffers up to WRITE_BYTES
    let n = 0;
    let bytes = 0;
    while (n < queue.length && (n === 0 || bytes + queue[n].length <= WRITE_BYTES)) bytes += queue[n++].length;
    const parts = queue.slice(0, n);
    queue = queue.slice(n);
    queued -= bytes;
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes);
    const writeAll = (off: number): void => {
      fs.write(fd, buf, off, buf.length - off, null, (err, w) => {
        if (err) {
          say(`write error: ${err.message}; retrying in 1 s`);
          setTimeout(() => writeAll(off), 1000);
          return;
        }
        if (off + w < buf.length) return writeAll(off + w);
        if (queued < HIGH_WATER / 2 && paused.size > 0) {
          for (const s of paused) s.resume();
          paused.clear();
        }
        writeNext();
      });
    };
    writeAll(0);
  };

  /** Appends the payloads (+ '\n' each) of one socket read, in order. */
  const append = (parts: Buffer[], bytes: number, records: number, from: net.Socket): void => {
    // one buffer per socket read: the subarrays point into the read's chunk, copy them together once
    const buf = Buffer.concat(parts, bytes);
    queue.push(buf);
    queued += bytes;
    written += records; // counted when queued; everything queued is written before the stop line
    if (!writing && !scheduled) {
      // gather what the other sockets read in this turn of the event loop into the same write
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        if (!writing) writeNext();
      });
    }
    if (queued > HIGH_WATER) {
      from.pause();
      paused.add(from);
    }
  };

  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    let pending: Buffer | null = null; // bytes of an incomplete frame
    socket.on('data', (chunk: Buffer) => {
      let data = pending === null ? chunk : Buffer.concat([pending, chunk]);
      pending = null;
      const parts: Buffer[] = [];
      let bytes = 0;
      let records = 0;
      let pos = 0;
      while (data.length - pos >= 4) {
        const len = data.readUInt32BE(pos);
        if (data.length - pos - 4 < len) break;
        parts.push(data.subarray(pos + 4, pos + 4 + len), NL);
        bytes += len + 1;
        records++;
        pos += 4 + len;
      }
      if (pos < data.length) pending = Buffer.from(data.subarray(pos)); // copy: the chunk is not kept
      data = Buffer.alloc(0);
      if (records > 0) append(parts, bytes, records, socket);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => open.delete(socket));
  });

  server.listen({ host: values.host, port: Number(values.port) }, () => {
    const a = server.address() as net.AddressInfo;
    say(`listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}, writing ${target}`);
  });
  server.on('error', (err) => {
    say(`cannot listen: ${err.message}`);
    process.exit(1);
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    const end = Date.now() + DRAIN_MS;
    while (open.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    for (const s of open) s.destroy();
    if (writing || scheduled || queue.length > 0) await new Promise<void>((r) => idleWaiters.push(r));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    say(`stopped; wrote ${written} records to ${target}`);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main();
