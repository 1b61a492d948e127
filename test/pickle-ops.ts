/** Pickle opcodes with their arguments, as bytes, for tests that build frames by hand. */

/** A 4-byte little-endian unsigned int (the length of BINUNICODE, BINBYTES, …). */
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** BINUNICODE: a str, its UTF-8 bytes after their length. */
export const str = (s: string): Buffer => Buffer.concat([Buffer.from('X'), u32(Buffer.byteLength(s)), Buffer.from(s)]);

/** BINFLOAT: a float, as 8 big-endian bytes. */
export const float = (x: number): Buffer => {
  const b = Buffer.alloc(9);
  b[0] = 0x47;
  b.writeDoubleBE(x, 1);
  return b;
};
