// Who a client is for the per-IP limits. Behind a reverse proxy every socket comes from the proxy,
// so with TRUST_PROXY set, the client is the right-most X-Forwarded-For address that is not one
// of the trusted proxies; the header is ignored on a socket from anyone else (it could be forged).
import { BlockList, isIP } from 'node:net';

/** The key of a client for per-IP limits: the IPv4 address, or the /64 of an IPv6 one. */
export function ipKeyOf(ip: string): string {
  if (isIP(ip) === 4) return ip;
  const groups = expandV6(ip);
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16).padStart(4, '0'))
    .join('')}/64`;
}

/** The text form of a socket's raw address (4 or 16 bytes). */
export function addressText(raw: ArrayBuffer): string {
  const b = new Uint8Array(raw);
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
  let mapped = b.length === 16 && b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) mapped = b[i] === 0;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < b.length; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(':');
}

/** The eight 16-bit groups of an IPv6 address (an embedded dotted IPv4 tail included). */
export function expandV6(ip: string): number[] {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').flatMap((g) => (g.includes('.') ? v4Groups(g) : [parseInt(g, 16)])) : []);
  const h = parse(head);
  const t = parse(tail);
  return [...h, ...new Array<number>(Math.max(0, 8 - h.length - t.length)).fill(0), ...t];
}

function v4Groups(dotted: string): number[] {
  const [a, b, c, d] = dotted.split('.').map(Number);
  return [(a << 8) | b, (c << 8) | d];
}

export class ClientIp {
  private readonly trusted = new BlockList();
  private readonly any: boolean;

  /** `trusted`: proxy addresses or CIDR ranges (IPv4 or IPv6). */
  constructor(trusted: readonly string[]) {
    this.any = trusted.length > 0;
    for (const t of trusted) {
      const [addr, bits] = t.split('/');
      const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.trusted.addAddress(addr, family);
      else this.trusted.addSubnet(addr, Number(bits), family);
    }
  }

  /** The per-IP key of the client behind a socket from `peer`, given its X-Forwarded-For header. */
  keyOf(peer: string, forwardedFor: string): string {
    if (!this.any || forwardedFor === '' || !this.isTrusted(peer)) return ipKeyOf(peer);
    const hops = forwardedFor.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i].trim();
      if (isIP(hop) === 0) break; // a malformed entry: trust nothing left of it
      if (!this.isTrusted(hop)) return ipKeyOf(hop);
    }
    return ipKeyOf(peer);
  }

  private isTrusted(ip: string): boolean {
    const family = isIP(ip);
    return family !== 0 && this.trusted.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}
