/**
 * Who may connect: `--allow CIDR` (repeatable, IPv4 and IPv6). SocketHandler has no authentication and sends its
 * pickles in the clear, so the network a connection comes from is the only thing the server can check.
 * A connection from elsewhere is closed at once, before a byte is read, and reported (rate-limited).
 */
import { BlockList, isIP, type Socket } from 'node:net';
import { OptionError } from './options';
import type { Reporter } from './report';
import { countRefusedConnection, type ServerStats } from './metrics';

/** Returns true when a connection from `address` (a socket's remoteAddress) may be served. */
export type AllowCheck = (address: string | undefined) => boolean;

/**
 * Checks and normalises the --allow values: "10.0.0.0/8", "fd00::/8", a bare address ("192.0.2.7" = /32,
 * "::1" = /128); several may be given in one value separated by commas or spaces (LOG_SERVER_ALLOW="a, b").
 * Throws OptionError naming the first bad one.
 */
export function parseAllowList(values: readonly string[] | string): string[] {
  const list = (Array.isArray(values) ? values : [values]).flatMap((v) => String(v).split(/[\s,]+/)).filter((v) => v.length > 0);
  if (list.length === 0) throw new OptionError('allow needs at least one network (CIDR), e.g. --allow 10.0.0.0/8');
  for (const cidr of list) subnetOf(cidr);
  return list;
}

function subnetOf(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1);
  const prefix = Number(prefixText);
  if (version === 0 || !/^\d{1,3}$/.test(prefixText) || prefix > max) {
    throw new OptionError(`allow: "${cidr}" is not a network: give an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8, or one address`);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * The check for a list from parseAllowList, or null (everyone allowed) when there is none.
 * A server listening on "::" sees IPv4 clients as IPv4-mapped IPv6 addresses (::ffff:127.0.0.2); they are checked
 * as the IPv4 address they are, so "127.0.0.2/32" matches them.
 */
export function makeAllowCheck(list: readonly string[] | undefined): AllowCheck | null {
  if (list === undefined || list.length === 0) return null;
  const blocks = new BlockList();
  for (const cidr of list) {
    const { address, prefix, family } = subnetOf(cidr);
    blocks.addSubnet(address, prefix, family);
  }
  return (address) => {
    if (address === undefined) return false; // the socket is already gone
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocks.check(mapped[1], 'ipv4') || blocks.check(address, 'ipv6');
    return blocks.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  };
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
