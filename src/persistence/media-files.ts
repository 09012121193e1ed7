// The media store on disk, content-addressed under DATA_DIR/media:
//   originals/<sha256>-<width>x<height>.<jpg|png|webp>   the uploaded bytes
//   webp/<sha256>-w<width>.webp                          the resized copies
//   tmp/                                                 files being written (emptied at start)
// A file reaches its real name only by rename(2) after its bytes were fsynced, and the directory
// is fsynced after the rename: after a crash a name holds a whole file or does not exist. The
// original's name carries its size, so the index is rebuilt from a directory listing.
// The fsyncs of image files run one at a time: many large flushes at once on the disk that holds
// the journals would stall the group commits that answer cart ops. A refused upload is never
// flushed at all.
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export type MediaFormat = 'jpeg' | 'png' | 'webp';

const EXT: Record<MediaFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp' };
const FORMAT_OF_EXT: Record<string, MediaFormat> = { jpg: 'jpeg', png: 'png', webp: 'webp' };
const ORIGINAL = /^([0-9a-f]{64})-(\d{1,6})x(\d{1,6})\.(jpg|png|webp)$/;
const VARIANT = /^([0-9a-f]{64})-w(\d{1,4})\.webp$/;

export interface StoredOriginal {
  mediaId: string;
  format: MediaFormat;
  width: number;
  height: number;
  bytes: number;
  /** When it was stored (the file's mtime). */
  storedAt: number;
}

export class MediaFiles {
  readonly root: string;
  readonly tmpDir: string;
  private readonly originals: string;
  private readonly variants: string;
  /** The tail of the serial flush lane. */
  private flushing: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.root = join(dataDir, 'media');
    this.tmpDir = join(this.root, 'tmp');
    this.originals = join(this.root, 'originals');
    this.variants = join(this.root, 'webp');
  }

  /** Creates the folders, drops what a crash left in tmp/ and copies whose original is gone; lists the originals. */
  async open(): Promise<StoredOriginal[]> {
    await rm(this.tmpDir, { recursive: true, force: true });
    for (const d of [this.tmpDir, this.originals, this.variants]) await mkdir(d, { recursive: true });
    const out: StoredOriginal[] = [];
    for (const name of await readdir(this.originals)) {
      const m = ORIGINAL.exec(name);
      if (!m) continue;
      const s = await stat(join(this.originals, name));
      out.push({ mediaId: m[1], width: Number(m[2]), height: Number(m[3]), format: FORMAT_OF_EXT[m[4]], bytes: s.size, storedAt: s.mtimeMs });
    }
    const known = new Set(out.map((o) => o.mediaId));
    for (const name of await readdir(this.variants)) {
      const m = VARIANT.exec(name);
      if (m && !known.has(m[1])) await unlink(join(this.variants, name)).catch(() => undefined);
    }
    return out;
  }

  /** A fresh name in tmp/. */
  tempPath(suffix = ''): string {
    return join(this.tmpDir, `${randomBytes(12).toString('hex')}${suffix}`);
  }

  /** Writes `bytes` to a new file in tmp/ (flushed by `commit`, if it gets there). */
  async writeTemp(bytes: Uint8Array): Promise<string> {
    const path = this.tempPath();
    await writeFile(path, bytes, { flag: 'wx', mode: 0o644 });
    return path;
  }

  originalPath(o: Pick<StoredOriginal, 'mediaId' | 'format' | 'width' | 'height'>): string {
    return join(this.originals, `${o.mediaId}-${o.width}x${o.height}.${EXT[o.format]}`);
  }

  variantPath(mediaId: string, width: number): string {
    return join(this.variants, `${mediaId}-w${width}.webp`);
  }

  /** Flushes temp files, moves them to their real names in order, then flushes the folders that changed. */
  async commit(moves: readonly { from: string; to: string }[]): Promise<void> {
    for (const { from } of moves) await this.flush(from);
    const dirs = new Set<string>();
    for (const { from, to } of moves) {
      await rename(from, to);
      dirs.add(to.slice(0, to.lastIndexOf('/')));
    }
    for (const d of dirs) await this.flush(d);
  }

  /** fsync of a file or folder, in the serial flush lane. */
  private flush(path: string): Promise<void> {
    const done = this.flushing.then(() => fsyncPath(path));
    this.flushing = done.catch(() => undefined);
    return done;
  }

  read(path: string): Promise<Buffer> {
    return readFile(path);
  }

  /** Removes an original and its copies. */
  async remove(o: StoredOriginal, widths: readonly number[]): Promise<void> {
    for (const w of widths) await unlink(this.variantPath(o.mediaId, w)).catch(() => undefined);
    await unlink(this.originalPath(o)).catch(() => undefined);
  }

  async discard(paths: readonly string[]): Promise<void> {
    for (const p of paths) await unlink(p).catch(() => undefined);
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
