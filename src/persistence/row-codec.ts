// How the shard database stores values (journal events, snapshots, event log rows): standard
// msgpack with no records, so rows stay readable by any tool and any later version.
import { Packr, Unpackr } from 'msgpackr';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export const encodeRow = (value: unknown): Buffer => packr.pack(value);
export const decodeRow = (bytes: Buffer): unknown => unpackr.unpack(bytes);
