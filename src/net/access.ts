/**
 * Who may connect: `--allow CIDR` (repeatable, IPv4 and IPv6). SocketHandler has no authentication and sends its
 * pickles in the clear, so the network a connection comes from is the only thing the server can check.
 * A connection from elsewhere is closed at once, before a byte is read, and reported (rate-limited).
 */
import { BlockList, isIP, type Socket } from 'node:net';
import type { Reporter } from '../core/report';
import { subnetOf } from '../config/allow';
import { countRefusedConnection, type ServerStats } from '../core/stats';

/**
 * Whether a client may send records: every input asks it about each client (a TCP connection, a UDP datagram,
 * an HTTP request) before reading what it sent. Takes the address as Node gives it ("127.0.0.1",
 * "::ffff:10.0.0.5", "::1"; undefined once the socket is gone); true lets it in.
 */
export type Admit = (address: string | undefined) => boolean;

/** Without --allow: every address that can reach the port. */
export const admitAll: Admit = () => true;

/**
 * The check for a list from parseAllowList (admitAll when there is none).
 * A server listening on "::" sees IPv4 clients as IPv4-mapped IPv6 addresses (::ffff:127.0.0.2); they are checked
 * as the IPv4 address they are, so "127.0.0.2/32" matches them.
 */
export function makeAllowCheck(list: readonly string[] | undefined): Admit {
  if (list === undefined || list.length === 0) return admitAll;
  const blocks = new BlockList();
  for (const cidr of list) {
    const { address, prefix, family } = subnetOf(cidr);
    blocks.addSubnet(address, prefix, family);
  }
  return (address) => {
    if (address === undefined) return false; // the socket is already gone
    const mapped = IPV4_MAPPED.exec(address);
    if (mapped) return blocks.check(mapped[1], 'ipv4') || blocks.check(address, 'ipv6');
    return blocks.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  };
}

/** An IPv4-mapped IPv6 address ("::ffff:10.0.0.5"), with the IPv4 address it is. */
const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** The address a client is counted under: an IPv4-mapped IPv6 address as the IPv4 address it is. */
export function clientAddress(address: string | undefined): string {
  if (address === undefined) return '';
  const mapped = IPV4_MAPPED.exec(address);
  return mapped ? mapped[1] : address;
}

/**
 * Connections open now by client address, for --max-connections-per-client (TCP and HTTP each keep one):
 * `open` counts one in, unless its address is at the limit; the callback it returns counts it out, once.
 */
export class ConnectionsPerClient {
  private readonly open = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Counts a connection from `address` in and returns the callback that counts it out, or null at the limit. */
  admit(address: string): (() => void) | null {
    const now = this.open.get(address) ?? 0;
    if (now >= this.limit) return null;
    this.open.set(address, now + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.open.get(address) ?? 1) - 1;
      if (left > 0) this.open.set(address, left);
      else this.open.delete(address);
    };
  }
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}

/** The warning for a server reachable from other machines with no --allow, or null. */
export function openToAllWarning(host: string, port: number, list: readonly string[] | undefined): string | null {
  if (isLoopback(host) || (list !== undefined && list.length > 0)) return null;
  return `warning: listening on ${isIP(host) === 6 ? `[${host}]` : host}:${port} without --allow: any host that can reach this port can write to the log (SocketHandler has no authentication and sends records in the clear); restrict it with --allow CIDR or a firewall`;
}

/** A connection from a network --allow does not name: closed at once, counted, and said (rate-limited). */
export function refuseNotAllowed(socket: Socket, stats: ServerStats, reporter: Reporter): void {
  countRefusedConnection(stats, 'not-allowed');
  reporter.warn('not-allowed', `refused a connection from ${socket.remoteAddress}:${socket.remotePort}: not in --allow`);
  socket.destroy();
}
