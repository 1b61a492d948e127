/**
 * Warming the line maker up before a UDP socket opens. Decoding is 20–40 times slower for the first few thousand
 * records, before V8 has compiled the decoder's hot paths; TCP clients simply wait, but datagrams that arrive
 * meanwhile fill the kernel's receive buffer and the rest of a burst is dropped (measured: of a burst of 1000
 * records from one DatagramHandler right after start, with Linux's default 208 KiB buffer, about a third landed
 * cold and all of them after this warm-up). About 50–100 ms at start.
 */
import { LineBuffer } from '../format/line-buffer';
import type { LineMaker } from '../decode/record';

/** What Python 3.11's SocketHandler.makePickle (and so DatagramHandler) sends for a typical record. */
const TYPICAL_RECORD = Buffer.from(
  [
    'fXEAKFgEAAAAbmFtZXEBWAMAAABhcHBxAlgDAAAAbXNncQNYEgAAAFByb2Nlc3NpbmcgaXRlbSA0MnEEWAQAAABhcmdzcQVOWAkA',
    'AABsZXZlbG5hbWVxBlgEAAAASU5GT3EHWAcAAABsZXZlbG5vcQhLFFgIAAAAcGF0aG5hbWVxCVgQAAAAL3Nydi9hcHAvbWFpbi5w',
    'eXEKWAgAAABmaWxlbmFtZXELWAcAAABtYWluLnB5cQxYBgAAAG1vZHVsZXENWAQAAABtYWlucQ5YCAAAAGV4Y19pbmZvcQ9OWAgA',
    'AABleGNfdGV4dHEQTlgKAAAAc3RhY2tfaW5mb3ERTlgGAAAAbGluZW5vcRJLJFgIAAAAZnVuY05hbWVxE1gGAAAAaGFuZGxlcRRY',
    'BwAAAGNyZWF0ZWRxFUdB2VT8QAfmtFgFAAAAbXNlY3NxFkdAXsAAAAAAAFgPAAAAcmVsYXRpdmVDcmVhdGVkcRdHQCkAAAAAAABY',
    'BgAAAHRocmVhZHEYTDE0MDA4NTUyODI3MTc0NEwKWAoAAAB0aHJlYWROYW1lcRlYCgAAAE1haW5UaHJlYWRxGlgLAAAAcHJvY2Vz',
    'c05hbWVxG1gLAAAATWFpblByb2Nlc3NxHFgHAAAAcHJvY2Vzc3EdTfgbWAcAAAB1c2VyX2lkcR5N0gRYCQAAAG9wZXJhdGlvbnEf',
    'WAwAAABwcm9jZXNzX2l0ZW1xIHUu',
  ].join(''),
  'base64',
);

/** Runs `makeLine` on a typical record `times` times, or until `maxMs` have passed; the lines are dropped. */
export function warmUp(makeLine: LineMaker, times = 3000, maxMs = 250): void {
  const out = new LineBuffer();
  const until = Date.now() + maxMs;
  for (let i = 0; i < times && (i % 100 !== 0 || Date.now() < until); i++) {
    makeLine(TYPICAL_RECORD, out);
    out.take();
  }
}
