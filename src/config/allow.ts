/**
 * The --allow list: networks as CIDR, IPv4 or IPv6, checked and normalised. Pure: the check made of it is
 * net/access.ts's.
 */
import { isIP } from 'node:net';
import { OptionError } from '../core/errors';

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

export function subnetOf(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
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
