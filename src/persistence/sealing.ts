// Encryption of personal data at rest: AES-256-GCM under a per-user data key, data keys wrapped
// (AES-256-GCM too) by a master key, and keyed hashes (HMAC-SHA256) for lookups that must not
// need the plaintext. Every ciphertext names the key that sealed it, so a master key can be
// replaced while data sealed under the old one is still read (see master-key.ts for rotation).
// Destroying a user's wrapped data key makes every copy of their sealed data unreadable at once.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { randomView } from '../protocol/ids.js';

const ALGO = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Format tag of a sealed value: `cw1.<keyId>.<iv|ciphertext|tag as base64url>`. */
const FORMAT = 'cw1';

export class SealError extends Error {}

/** A 32-byte key and the id every ciphertext under it carries. */
export interface NamedKey {
  readonly id: string;
  readonly key: Buffer;
}

/** The id of a master key: derived from the key, so the same key always has the same id. */
export const masterKeyId = (key: Buffer): string => 'm' + createHash('sha256').update('cartwire master key id').update(key).digest('hex').slice(0, 16);

/** Seals `plain` with `k`; `aad` binds the ciphertext to what it belongs to (a user id). */
export function seal(k: NamedKey, plain: Uint8Array | string, aad: string): string {
  // From the pooled CSPRNG bytes (one randomFillSync per 4 KiB): a randomBytes call per IV was 3%
  // of the main thread in a flash sale's profile. Keys are still drawn one by one, never pooled.
  const iv = randomView(IV_BYTES);
  const c = createCipheriv(ALGO, k.key, iv);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([iv, c.update(typeof plain === 'string' ? Buffer.from(plain) : plain), c.final(), c.getAuthTag()]);
  return `${FORMAT}.${k.id}.${body.toString('base64url')}`;
}

/** The id of the key a sealed value needs, or undefined when it is not a sealed value. */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split('.');
  return parts.length === 3 && parts[0] === FORMAT ? parts[1] : undefined;
}

/** Opens a sealed value; throws SealError when the key is not the one it needs or it was altered. */
export function open(k: NamedKey, sealed: string, aad: string): Buffer {
  const parts = sealed.split('.');
  if (parts.length !== 3 || parts[0] !== FORMAT) throw new SealError('not a sealed value');
  if (parts[1] !== k.id) throw new SealError(`sealed under key ${parts[1]}, not ${k.id}`);
  const body = Buffer.from(parts[2], 'base64url');
  if (body.length < IV_BYTES + TAG_BYTES) throw new SealError('sealed value too short');
  const d = createDecipheriv(ALGO, k.key, body.subarray(0, IV_BYTES));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    return Buffer.concat([d.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), d.final()]);
  } catch {
    throw new SealError('sealed value does not authenticate');
  }
}

/** A new random data key, named after the user it belongs to and when it was made. */
export function newDataKey(userId: string): NamedKey {
  return { id: `d${userId.replace(/[^A-Za-z0-9_-]/g, '')}-${randomBytes(4).toString('hex')}`, key: randomBytes(32) };
}

/**
 * The master keys this process knows, by id: `current` wraps new data keys; the others only
 * unwrap (a rotation in progress, or one interrupted).
 */
export class MasterKeyring {
  private readonly byId = new Map<string, NamedKey>();
  private currentKey: NamedKey;

  constructor(current: NamedKey, others: readonly NamedKey[] = []) {
    this.currentKey = current;
    for (const k of [current, ...others]) this.byId.set(k.id, k);
  }

  /** The key new data keys are wrapped under. */
  get current(): NamedKey {
    return this.currentKey;
  }

  /**
   * Wraps under `k` from now on, still unwrapping with every key known before (a cluster node
   * told of a rotation while it runs).
   */
  use(k: NamedKey): void {
    this.byId.set(k.id, k);
    this.currentKey = k;
  }

  /** Every key, the current one first. */
  keys(): NamedKey[] {
    return [this.currentKey, ...[...this.byId.values()].filter((k) => k.id !== this.currentKey.id)];
  }

  /** Every key as hex, the current one first: for the shard workers of this process. */
  hexKeys(): string[] {
    return this.keys().map((k) => k.key.toString('hex'));
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Wraps a data key under the current master key (the AAD ties it to its owner). */
  wrap(dataKey: NamedKey, owner: string): string {
    return seal(this.current, Buffer.concat([Buffer.from(dataKey.id + '\n'), dataKey.key]), `wrap:${owner}`);
  }

  /** Unwraps with whichever known master key wrapped it. */
  unwrap(wrapped: string, owner: string): NamedKey {
    const id = sealedKeyId(wrapped);
    const master = id === undefined ? undefined : this.byId.get(id);
    if (!master) throw new SealError(`no master key ${id ?? '?'} is configured`);
    const raw = open(master, wrapped, `wrap:${owner}`);
    const nl = raw.indexOf(10);
    if (nl <= 0 || raw.length - nl - 1 !== 32) throw new SealError('wrapped key is malformed');
    return { id: raw.subarray(0, nl).toString(), key: Buffer.from(raw.subarray(nl + 1)) };
  }

  /** A wrapped key under the current master key (unchanged when it already is). */
  rewrap(wrapped: string, owner: string): string {
    if (sealedKeyId(wrapped) === this.current.id) return wrapped;
    return this.wrap(this.unwrap(wrapped, owner), owner);
  }
}

/** Keyed hash of a lookup value (a normalized email or username): equal inputs, equal hashes; no plaintext. */
export function lookupHash(key: Buffer, kind: 'email' | 'username', value: string): string {
  return createHmac('sha256', key).update(kind).update('\0').update(value).digest('base64url');
}
