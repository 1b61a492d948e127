/**
 * Reading accepted sockets into one reused buffer.
 *
 * By default Node allocates a new buffer for every read of every socket and leaves it to the garbage collector;
 * at full speed that is hundreds of MB a second of short-lived memory outside V8's heap, which is collected late
 * and kept by the allocator, so it shows as resident memory. Node's `onread` option (a fixed buffer and a
 * callback) removes those allocations, but only sockets constructed with it use it, and the server's sockets
 * are constructed by net.Server (or by the cluster's handle passing). This sets up the same thing on a socket
 * that exists: the fields Node's `onread` constructor option sets, then `useUserBuffer` on the handle, as the
 * constructor does. pause() and resume() keep working (Node's net.Socket handles them for `onread` sockets);
 * 'end', 'error' and 'close' come as usual; no 'data' events are emitted.
 *
 * The chunk handed to `onChunk` is a view of the shared buffer: it is overwritten by the next read, of any
 * socket using the same buffer, so it must be used up (or copied) before `onChunk` returns.
 *
 * Where the Node in use does not have these internals (checked once, at load), or LOGSERVER_READ_INTO=0 is
 * set, it returns false and the caller reads 'data' events instead; `readIntoMissing` says why, for the start
 * line.
 */
import { Socket } from 'node:net';

type OnRead = (nread: number, buffer: Buffer) => boolean | void;

interface Internals {
  kBuffer: symbol;
  kBufferCb: symbol;
}

/** The symbols Node keeps an `onread` socket's buffer and callback under, found on a probe socket. */
function findInternals(): Internals | null {
  // (Node's types declare `onread` for net.connect() only; the constructor is where it is read.)
  const probe = new Socket({ onread: { buffer: Buffer.alloc(1), callback: () => {} } } as ConstructorParameters<typeof Socket>[0]);
  const symbols = Object.getOwnPropertySymbols(probe);
  const kBuffer = symbols.find((s) => s.description === 'kBuffer');
  const kBufferCb = symbols.find((s) => s.description === 'kBufferCb');
  const fields = probe as unknown as Record<symbol, unknown>;
  probe.destroy();
  if (
    kBuffer === undefined ||
    kBufferCb === undefined ||
    !(fields[kBuffer] instanceof Uint8Array) ||
    typeof fields[kBufferCb] !== 'function'
  )
    return null;
  return { kBuffer, kBufferCb };
}

const internals = process.env.LOGSERVER_READ_INTO === '0' ? null : findInternals();

/** Why sockets do not read into a reused buffer here, or null when they do. */
export const readIntoMissing: string | null =
  process.env.LOGSERVER_READ_INTO === '0'
    ? 'LOGSERVER_READ_INTO=0 is set'
    : internals === null
      ? `Node ${process.version} does not have the internals of its onread option that this uses`
      : null;

/**
 * Makes `socket` read into `buffer` and hand each chunk to `onChunk`. Returns false (and changes nothing) if it
 * cannot; the caller then listens for 'data'.
 */
export function readInto(socket: Socket, buffer: Buffer, onChunk: (chunk: Buffer) => void): boolean {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
  if (internals === null || typeof handle?.useUserBuffer !== 'function') return false;
  // Anything read before the switch (none in practice: the socket was made in this turn of the event loop).
  for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) onChunk(chunk);
  const fields = socket as unknown as Record<symbol, unknown>;
  const callback: OnRead = (nread, buf) => onChunk(buf.subarray(0, nread));
  fields[internals.kBuffer] = buffer;
  fields[internals.kBufferCb] = callback;
  handle.useUserBuffer(buffer);
  return true;
}
