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
