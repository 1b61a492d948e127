import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameReader, FrameTooLarge } from '../src/input/frames';

function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return Buffer.concat([head, payload]);
}

const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(5000, 7), Buffer.from('hello world'), Buffer.alloc(3, 1)];
const stream = Buffer.concat(payloads.map(frame));

function readAll(chunks: Buffer[], max = 1 << 20): Buffer[] {
  const reader = new FrameReader(max);
  const out: Buffer[] = [];
  for (const c of chunks) reader.push(c, (p) => out.push(Buffer.from(p)));
  assert.equal(reader.pendingBytes, 0);
  return out;
}

test('frames in one chunk', () => {
  assert.deepEqual(readAll([stream]), payloads);
});

test('frames split at every possible point, and byte by byte', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(readAll([stream.subarray(0, cut), stream.subarray(cut)]), payloads, `cut at ${cut}`);
  }
  const bytes = [...stream].map((b) => Buffer.from([b]));
  assert.deepEqual(readAll(bytes), payloads);
});

test('frames split at random points into many chunks', () => {
  for (let round = 0; round < 200; round++) {
    const chunks: Buffer[] = [];
    let pos = 0;
    while (pos < stream.length) {
      const n = 1 + Math.floor(Math.random() * 700);
      chunks.push(stream.subarray(pos, pos + n));
      pos += n;
    }
    assert.deepEqual(readAll(chunks), payloads);
  }
});

test('a length prefix over the limit throws at once, before any payload arrives', () => {
  const reader = new FrameReader(100);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(101);
  assert.throws(() => reader.push(head, () => assert.fail('no frame expected')), FrameTooLarge);
});

test('a prefix announcing 4 GiB holds only the bytes received', () => {
  const reader = new FrameReader(0xffffffff);
  reader.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), () => assert.fail('no frame expected'));
  assert.equal(reader.pendingBytes, 10);
});

test('a length prefix over the limit split across chunks leaves nothing pending', () => {
  const reader = new FrameReader(100);
  reader.push(Buffer.from([0, 0]), () => assert.fail('no frame expected'));
  assert.throws(() => reader.push(Buffer.from([1, 0, 9, 9]), () => assert.fail('no frame expected')), FrameTooLarge);
  assert.equal(reader.pendingBytes, 0);
});

test('a frame arriving one byte per read costs about its size, not a buffer object per byte', () => {
  const reader = new FrameReader(8 << 20);
  const announced = 2 << 20;
  const head = Buffer.alloc(4);
  head.writeUInt32BE(announced);
  for (const b of head) reader.push(Buffer.from([b]), () => assert.fail('no frame yet'));
  const received = 1 << 20;
  const one = Buffer.from([0x41]);
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  for (let i = 0; i < received; i++) reader.push(one, () => assert.fail('no frame yet'));
  const grown = used() - before;
  assert.equal(reader.pendingBytes, received);
  // Held as one buffer object per read, 1 MiB of one-byte reads took over 100 MB.
  assert.ok(grown < 16 * received, `1 MiB received one byte at a time grew memory by ${Math.round(grown / 1e6)} MB`);
  // And the frame still comes out whole once the rest arrives.
  let got: Buffer | null = null;
  reader.push(Buffer.alloc(announced - received, 0x42), (p) => (got = Buffer.from(p)));
  assert.ok(got !== null);
  const frame = got as Buffer;
  assert.equal(frame.length, announced);
  assert.equal(frame[0], 0x41);
  assert.equal(frame[received - 1], 0x41);
  assert.equal(frame[received], 0x42);
});

test('no chunk is referenced after push() returns: the caller may read the next one into the same buffer', () => {
  // Reads into one reused buffer, as the server does; every frame must come out as sent, whatever the split.
  const big = Buffer.alloc(20_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const sent = [...payloads, big, Buffer.from('after')];
  const bytes = Buffer.concat(sent.map(frame));
  for (const size of [1, 3, 4, 5, 700, 4096, 5000, 9000, 65536]) {
    const reader = new FrameReader(1 << 20);
    const reused = Buffer.alloc(size);
    const out: Buffer[] = [];
    for (let pos = 0; pos < bytes.length; pos += size) {
      const n = bytes.copy(reused, 0, pos, pos + size);
      reader.push(reused.subarray(0, n), (p) => out.push(Buffer.from(p)));
      reused.fill(0xee);
    }
    assert.deepEqual(out, sent, `reads of ${size} bytes`);
  }
});
