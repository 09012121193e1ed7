// Product images: uploads checked and stored once per content (the id is the SHA-256 of the
// bytes), their WebP copies made by the image process, files served from a bounded memory cache,
// and files no product has referenced for a grace period removed. The index lives on the main
// thread; the garbage collector takes an id out of it before deleting a file, and
// catalog.setImages checks it synchronously, so no product is ever set to a file being deleted.
import { MEDIA_WIDTHS, MediaLimits, mediaUrl, type MediaWidth } from '../../protocol/media.js';
import { MediaFiles, type MediaFormat, type StoredOriginal } from '../../persistence/media-files.js';
import type { MediaFile, MediaPort, UploadOutcome } from '../../transport/http-media.js';
import { sniffFormat } from '../../workers/media/sniff.js';
import { ImageProcess, ImageProcessBusy } from './image-process.js';
import { LRUCache } from 'lru-cache';
import type { MediaConfig } from '../../config.js';
import { log } from '../../log/log.js';

const CONTENT_TYPE: Record<MediaFormat, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/** Uploads being checked or stored at once (at most 8 MiB each in memory); more are refused as overloaded. */
const MAX_CONCURRENT_UPLOADS = 24;

interface Entry extends StoredOriginal {
  /** Last time a product was set to it (catalog.setImages), or was seen referencing it. */
  touchedAt: number;
}

const refused = (
  status: Extract<UploadOutcome, { ok: false }>['status'],
  code: 'BAD_REQUEST' | 'OVERLOADED' | 'LIMIT_EXCEEDED',
  message: string,
  details?: Record<string, unknown>,
): UploadOutcome => ({
  ok: false,
  status,
  error: { code, message, ...(details ? { details } : {}) },
});

export class MediaService implements MediaPort {
  private readonly files: MediaFiles;
  private readonly index = new Map<string, Entry>();
  /** Hot files by total size; one over a quarter of the cache would push out too much (served from disk). */
  private readonly cache: LRUCache<string, Buffer>;
  private readonly images = new ImageProcess();
  /** Copies being made again after a crash lost them: one job per copy, however many requests wait. */
  private readonly remaking = new Map<string, Promise<void>>();
  private uploads = 0;
  private gcTimer: NodeJS.Timeout | undefined;

  private constructor(
    dataDir: string,
    private readonly config: MediaConfig,
    private readonly referenced: () => Iterable<string>,
  ) {
    this.files = new MediaFiles(dataDir);
    const maxSize = Math.max(1, config.cacheBytes);
    this.cache = new LRUCache<string, Buffer>({ maxSize, maxEntrySize: Math.max(1, maxSize / 4), sizeCalculation: (b) => Math.max(1, b.length) });
  }

  /** Opens the store (what a crash left half-written is dropped) and starts the collector. */
  static async open(dataDir: string, config: MediaConfig, referenced: () => Iterable<string>): Promise<MediaService> {
    const m = new MediaService(dataDir, config, referenced);
    const now = Date.now();
    for (const o of await m.files.open()) m.index.set(o.mediaId, { ...o, touchedAt: now });
    const every = Math.min(Math.max(Math.floor(config.gcGraceMs / 4), 1_000), 600_000);
    m.gcTimer = setInterval(() => void m.collect(Date.now()).catch((err) => log.error({ err }, 'media: collecting unreferenced files failed')), every);
    m.gcTimer.unref();
    return m;
  }

  get count(): number {
    return this.index.size;
  }

  /** Size of a stored image, for catalog.setImages (which counts as a reference from now on). */
  describe(mediaId: string): { width: number; height: number } | undefined {
    const e = this.index.get(mediaId);
    if (!e) return undefined;
    e.touchedAt = Date.now();
    return { width: e.width, height: e.height };
  }

  /** Whether a new upload would be refused as overloaded: answered before its body is read. */
  busy(): boolean {
    return this.uploads >= MAX_CONCURRENT_UPLOADS;
  }

  async upload(body: Buffer): Promise<UploadOutcome> {
    // The type by the bytes: anything else is refused before it touches the disk.
    if (!sniffFormat(body)) return refused('415 Unsupported Media Type', 'BAD_REQUEST', 'the body is not a JPEG, PNG or WebP image', { reason: 'type' });
    if (this.uploads >= MAX_CONCURRENT_UPLOADS) return refused('503 Service Unavailable', 'OVERLOADED', 'too many uploads at once; retry shortly');
    if (this.index.size >= this.config.maxFiles) {
      return refused('503 Service Unavailable', 'LIMIT_EXCEEDED', `the media store holds its maximum of ${this.config.maxFiles} files`);
    }
    this.uploads++;
    try {
      return await this.store(body);
    } catch (err) {
      if (err instanceof ImageProcessBusy) return refused('503 Service Unavailable', 'OVERLOADED', 'too many images are being processed; retry shortly');
      throw err;
    } finally {
      this.uploads--;
    }
  }

  private async store(body: Buffer): Promise<UploadOutcome> {
    // Written and fsynced under a temporary name; the image process reads it from there.
    const temp = await this.files.writeTemp(body);
    const made: string[] = [temp];
    try {
      const r = await this.images.ingest({ type: 'ingest', path: temp, widths: MEDIA_WIDTHS, outDir: this.files.tmpDir, maxPixels: MediaLimits.MAX_PIXELS });
      if (r.ok) made.push(...r.copies.map((c) => c.path));
      if (!r.ok) {
        const status = r.refusal === 'type' ? '415 Unsupported Media Type' : '422 Unprocessable Content';
        return refused(status, 'BAD_REQUEST', r.message, { reason: r.refusal });
      }
      const answer: UploadOutcome = { ok: true, media: { mediaId: r.mediaId, width: r.width, height: r.height, url: mediaUrl(r.mediaId) } };
      const known = this.index.get(r.mediaId);
      if (known) {
        // The same bytes again: stored once.
        known.touchedAt = Date.now();
        return answer;
      }
      const original = { mediaId: r.mediaId, format: r.format, width: r.width, height: r.height };
      // The copies first, the original last: an original on disk always has its copies (or they are made again).
      await this.files.commit([
        ...r.copies.map((c) => ({ from: c.path, to: this.files.variantPath(r.mediaId, c.width) })),
        { from: temp, to: this.files.originalPath(original) },
      ]);
      made.length = 0;
      const now = Date.now();
      this.index.set(r.mediaId, { ...original, bytes: body.length, storedAt: now, touchedAt: now });
      return answer;
    } finally {
      if (made.length > 0) await this.files.discard(made);
    }
  }

  async file(mediaId: string, width: MediaWidth | undefined): Promise<MediaFile | undefined> {
    const e = this.index.get(mediaId);
    if (!e) return undefined;
    const key = width === undefined ? mediaId : `${mediaId}-w${width}`;
    const etag = `"${key}"`;
    const hit = this.cache.get(key);
    if (hit) return { bytes: hit, contentType: width === undefined ? CONTENT_TYPE[e.format] : 'image/webp', etag };
    const path = width === undefined ? this.files.originalPath(e) : this.files.variantPath(mediaId, width);
    let bytes: Buffer;
    try {
      bytes = await this.files.read(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Collected meanwhile, or (a copy) lost to a crash between its write and the original's.
      if (width === undefined || !this.index.has(mediaId)) return undefined;
      await this.remake(e, width);
      bytes = await this.files.read(path);
    }
    this.cache.set(key, bytes);
    return { bytes, contentType: width === undefined ? CONTENT_TYPE[e.format] : 'image/webp', etag };
  }

  private remake(e: Entry, width: MediaWidth): Promise<void> {
    const key = `${e.mediaId}-w${width}`;
    let job = this.remaking.get(key);
    if (!job) {
      const out = this.files.tempPath('.webp');
      job = this.images
        .make({ type: 'variant', source: this.files.originalPath(e), width, out, maxPixels: MediaLimits.MAX_PIXELS })
        .then(() => this.files.commit([{ from: out, to: this.files.variantPath(e.mediaId, width) }]))
        .finally(() => this.remaking.delete(key));
      this.remaking.set(key, job);
    }
    return job;
  }

  /** Renders an SVG to JPEG bytes in the image process (the demo catalog's pictures). */
  async render(svg: string): Promise<Buffer> {
    const out = this.files.tempPath('.jpg');
    try {
      await this.images.make({ type: 'render', svg, out });
      return await this.files.read(out);
    } finally {
      await this.files.discard([out]);
    }
  }

  /**
   * Removes every file no product references and none has referenced for the grace period
   * (counted from its upload or last reference). Returns how many went.
   */
  async collect(now: number): Promise<number> {
    const refs = new Set(this.referenced());
    const doomed: Entry[] = [];
    for (const e of this.index.values()) {
      if (refs.has(e.mediaId)) e.touchedAt = now;
      else if (now - Math.max(e.storedAt, e.touchedAt) >= this.config.gcGraceMs) doomed.push(e);
    }
    // Out of the index first (synchronously): from here on catalog.setImages cannot name them.
    for (const e of doomed) {
      this.index.delete(e.mediaId);
      this.cache.delete(e.mediaId);
      for (const w of MEDIA_WIDTHS) this.cache.delete(`${e.mediaId}-w${w}`);
    }
    for (const e of doomed) await this.files.remove(e, MEDIA_WIDTHS);
    if (doomed.length > 0) log.info({ removed: doomed.length }, 'media: removed files no product references');
    return doomed.length;
  }

  close(): void {
    clearInterval(this.gcTimer);
    this.images.close();
  }
}
