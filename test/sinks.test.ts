/**
 * The sinks' side of reused memory: the inputs write every chunk's lines into one reused slab, so a sink must
 * keep its own copy of what it is given; the copies go round in chunks (file) and batch buffers (lines pipe),
 * which must never be reused while a write still needs them.
 */
import { mock, test, type TestContext } from 'node:test';
import fs from 'node:fs';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { readdir, readFile, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSink } from '../src/sink/file';
import { Chunks } from '../src/sink/chunks';
import { LinesPipeSink, readLinesPipe } from '../src/cluster/lines-pipe';
import { readInto, readIntoMissing } from '../src/net/read-into';

const quiet = { info() {}, warn() {} };

/** `n` distinct lines of varying length (some long enough to fill a chunk in few writes). */
function makeLines(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `{"n":${i},"pad":"${'x'.repeat((i * 7919) % (i % 50 === 0 ? 300_000 : 3000))}"}\n`);
}

/**
 * `lines` in groups of 1-5, each written into one reused buffer that is overwritten once the next group is asked
 * for: after the sink's write() has returned, as the inputs do.
 */
function* throughOneBuffer(lines: string[]): Generator<[Buffer, number]> {
  const reused = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < lines.length;) {
    const group = lines.slice(i, i + 1 + (i % 5));
    const n = reused.write(group.join(''), 0, 'utf8');
    yield [reused.subarray(0, n), group.length];
    reused.fill(0x23, 0, n);
    i += group.length;
  }
}

/** Two ends of a loopback TCP connection: the client's, and the server's accepted socket. */
async function connectedPair(t: TestContext): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [socket] = await accepted;
  return [client, socket];
}

test('the file sink writes what it was given, though the caller reuses its buffer at once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'log-server-sinks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lines = makeLines(3000); // about 20 MB: many chunks, each filled and used again
  for (const rotation of [undefined, { maxSize: 3_000_000, maxFiles: 100, compress: false, utc: true }]) {
    const path = join(dir, rotation ? 'rotated.jsonl' : 'plain.jsonl');
    const sink = new FileSink(path, { reporter: quiet, highWaterMark: 4 * 1024 * 1024, rotation });
    await sink.open();
    sink.startRotation();
    for (const [b, n] of throughOneBuffer(lines)) sink.write(b, n);
    await sink.close();
    const files = (await readdir(dir))
      .filter((f) => f.startsWith(rotation ? 'rotated.jsonl' : 'plain.jsonl'))
      .sort()
      .reverse();
    if (rotation) assert.ok(files.length > 3, `rotated into ${files.length} files`);
    let text = '';
    for (const f of files) text += await readFile(join(dir, f), 'utf8');
    assert.equal(sink.written, lines.length);
    assert.ok(
      text === lines.join(''),
      `${rotation ? 'rotated' : 'plain'}: the file differs from the lines written (${text.length} vs ${lines.join('').length} chars)`,
    );
  }
});

test('the file sink under backpressure, short writes, a failed write and a reopen: every line once, in order, in a few chunks used again', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'log-server-sinks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'logs.jsonl');
  const lines = makeLines(3000);
  const realWritev = fs.writev;
  const chunkMemory = new Set<ArrayBufferLike>();
  let calls = 0;
  mock.method(fs, 'writev', (fd: number, bufs: Buffer[], cb: (err: Error | null, written: number) => void) => {
    calls++;
    for (const b of bufs) if (b.buffer.byteLength === 1024 * 1024) chunkMemory.add(b.buffer);
    // Now and then an I/O error (the sink retries after 100 ms) or a short write (it writes the rest next).
    if (calls === 7) return setImmediate(() => cb(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }), 0));
    if (calls % 5 === 0 && bufs[0].length > 1) return realWritev(fd, [bufs[0].subarray(0, bufs[0].length >> 1)], cb);
    realWritev(fd, bufs, cb);
  });
  t.after(() => mock.restoreAll());
  const sink = new FileSink(path, { reporter: quiet, highWaterMark: 256 * 1024 });
  await sink.open();
  let written = 0;
  for (const [b, n] of throughOneBuffer(lines)) {
    // Paused for 'drain' when the sink is full, as the inputs pause their sockets.
    if (!sink.write(b, n)) await once(sink, 'drain');
    written += n;
    if (written - n < lines.length / 2 && written >= lines.length / 2) {
      // Halfway, logrotate: the file moved away, then the sink told to reopen its path.
      await rename(path, `${path}.1`);
      sink.reopen();
    }
  }
  await sink.close();
  const text = (await readFile(`${path}.1`, 'utf8')) + (await readFile(path, 'utf8'));
  assert.equal(sink.written, lines.length);
  assert.ok(text === lines.join(''), `the files differ from the lines written (${text.length} vs ${lines.join('').length} chars)`);
  assert.ok(calls > 50, `${calls} writes`);
  // About 20 MB went through 1 MiB chunks; with 256 KiB queued at most, a few chunks going round hold it all.
  assert.ok(chunkMemory.size <= 6, `${chunkMemory.size} different chunks written from: not used again`);
});

test('a chunk is used again once its copies are written, and never while one is waiting', () => {
  const chunks = new Chunks();
  const line = (c: string) => Buffer.alloc(300 * 1024, c);
  const a = chunks.copy(line('a'), null);
  const b = chunks.copy(line('b'), null);
  const c = chunks.copy(line('c'), null);
  // The fourth does not fit: a new chunk; the first is still waiting to be written, so it is not reused.
  const d = chunks.copy(line('d'), null);
  assert.notEqual(d.chunk, a.chunk);
  assert.notEqual(d.view.buffer, a.view.buffer);
  for (let i = 0; i < 20; i++) chunks.copy(line('e'), null);
  assert.ok(
    a.view.every((x) => x === 0x61) && b.view.every((x) => x === 0x62) && c.view.every((x) => x === 0x63),
    'a waiting copy was overwritten',
  );
  // Written: the chunk goes back, and a later chunk is that same memory.
  chunks.done(a.chunk);
  chunks.done(b.chunk);
  chunks.done(c.chunk);
  let reused = false;
  for (let i = 0; i < 8 && !reused; i++) reused = chunks.copy(line('f'), null).view.buffer === a.view.buffer;
  assert.ok(reused, 'the written chunk was not used again');
  // A copy that follows the last one in its chunk is joined to it: one view, one write.
  const first = chunks.copy(Buffer.from('x\n'), null);
  const next = chunks.copy(Buffer.from('y\n'), first.view);
  assert.equal(next.joined, true);
  assert.equal(next.view.toString(), 'x\ny\n');
});

/** A pipe whose writes complete later, checking each batch is unchanged until then. */
class SlowPipe {
  frames: Buffer[] = [];
  pending: { frame: Buffer; copy: Buffer; done: () => void }[] = [];
  write(frame: Buffer, done: () => void): boolean {
    this.pending.push({ frame, copy: Buffer.from(frame), done });
    return true;
  }
  end(done: () => void): void {
    done();
  }
  completeAll(): void {
    for (const p of this.pending.splice(0)) {
      assert.ok(p.frame.equals(p.copy), 'a batch changed before its write completed');
      this.frames.push(p.copy);
      p.done();
    }
  }
}

test("a worker's batches keep their own copy, and a batch buffer is reused only after its write completed", async () => {
  const pipe = new SlowPipe();
  const sink = new LinesPipeSink(pipe as unknown as net.Socket);
  const lines = makeLines(2000);
  let writes = 0;
  for (const [b, n] of throughOneBuffer(lines)) {
    sink.write(b, n);
    if (++writes % 7 === 0) pipe.completeAll();
  }
  const idle = sink.idle();
  pipe.completeAll();
  await idle;
  let text = '';
  let count = 0;
  for (const f of pipe.frames) {
    assert.equal(f.readUInt32BE(0), f.length - 4);
    count += f.readUInt32BE(4);
    text += f.subarray(8).toString('utf8');
  }
  assert.equal(count, lines.length);
  assert.ok(text === lines.join(''), 'the batches differ from the lines written');
});

test('the lines pipe: every batch arrives whole and in order through a real socket, read into one reused buffer', async (t) => {
  assert.equal(readIntoMissing, null, 'sockets do not read into a reused buffer on this Node');
  const [client, socket] = await connectedPair(t);
  const got: string[] = [];
  let count = 0;
  const ended = readLinesPipe(
    socket,
    (l, n) => {
      got.push(l.toString('utf8'));
      count += n;
    },
    () => assert.fail('a batch was cut'),
  );
  const sink = new LinesPipeSink(client);
  const lines = makeLines(4000);
  for (const [b, n] of throughOneBuffer(lines)) sink.write(b, n);
  await sink.end();
  await ended;
  assert.equal(count, lines.length);
  assert.ok(got.join('') === lines.join(''), 'what was read differs from what was sent');
});

test('the lines pipe: of a batch cut off by the end (a worker killed mid-write), the whole lines that came are handed on, the rest counted', async (t) => {
  const [client, socket] = await connectedPair(t);
  const got: [string, number][] = [];
  const cuts: (number | null)[] = [];
  const ended = readLinesPipe(
    socket,
    (l, n) => got.push([l.toString('utf8'), n]),
    (lost) => cuts.push(lost),
  );
  // Each batch as a worker's LinesPipeSink encodes it (the production encoder, into a pipe that keeps the bytes).
  const batch = (text: string, count: number) => {
    const sent: Buffer[] = [];
    const encoder = new LinesPipeSink({
      write: ((b: Buffer, cb?: () => void) => {
        sent.push(Buffer.from(b));
        cb?.();
        return true;
      }) as net.Socket['write'],
      end: (() => undefined) as unknown as net.Socket['end'],
    });
    encoder.write(Buffer.from(text), count);
    encoder.flush();
    assert.equal(sent.length, 1);
    return sent[0];
  };
  const whole = batch('{"a":1}\n{"a":2}\n', 2);
  const cut = batch('{"b":1}\n{"b":2}\n{"b":3}\n{"b":4}\n', 4).subarray(0, 8 + 19);
  client.end(Buffer.concat([whole, cut]));
  await ended;
  assert.deepEqual(got, [
    ['{"a":1}\n{"a":2}\n', 2],
    ['{"b":1}\n{"b":2}\n', 2],
  ]);
  assert.deepEqual(cuts, [2]);
});

test('readInto: a socket read into a small reused buffer gets every byte in order, pauses and resumes, and closes', async (t) => {
  const [client, socket] = await connectedPair(t);
  const parts: Buffer[] = [];
  let paused = false;
  const buffer = Buffer.alloc(1000);
  assert.ok(
    readInto(socket, buffer, (chunk) => {
      assert.equal(chunk.buffer, buffer.buffer, 'not read into the given buffer');
      assert.ok(!paused, 'a read arrived while paused');
      parts.push(Buffer.from(chunk));
      if (parts.length === 5) {
        paused = true;
        socket.pause();
        setTimeout(() => {
          paused = false;
          socket.resume();
        }, 100);
      }
    }),
  );
  socket.resume();
  const sent = Buffer.alloc(3_000_000);
  for (let i = 0; i < sent.length; i++) sent[i] = (i * 31) >> 3;
  client.end(sent);
  await once(socket, 'close');
  assert.ok(parts.length > 3000, `${parts.length} reads`);
  assert.ok(Buffer.concat(parts).equals(sent), 'the bytes read differ from those sent');
});
