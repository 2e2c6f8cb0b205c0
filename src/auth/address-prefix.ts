import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network a source address belongs to, as a share of something unauthenticated is
 * counted: an IPv4 /24 or an IPv6 /64 (the block one host or one customer line is given).
 * Counting single addresses let one holder of a /64 (or a loopback range) take every share.
 */
export function addressPrefix(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const v4 = mapped ? mapped[1]! : address;
  if (isIPv4(v4)) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  if (!isIPv6(address)) return address;
  // Expand "::" to the zeros it stands for, then keep the first four groups.
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '').toLowerCase()).join(':')}::/64`;
}
