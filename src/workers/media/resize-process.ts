// The image process: checks uploads and makes their WebP copies with sharp (libvips), one job at
// a time, at the lowest CPU priority. It is a process of its own, not a thread of the server's:
// decoding and resizing never run on the threads that serve carts, and an image that crashes
// the decoder takes down only this process (the server answers its job as failed and starts
// another). It exits when the server goes away (the IPC channel closes).
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { log } from '../../log/log.js';
import { sniffFormat } from './sniff.js';
import type { IngestDone, JobResult, ResizeJob, ResizeReply, ResizeRequest } from './resize-messages.js';

/** WebP quality of the copies: small files, no visible loss at card and page sizes. */
const WEBP_QUALITY = 80;

// One libvips thread per job and no operation cache: at most one core, and bounded memory.
sharp.concurrency(1);
sharp.cache(false);

/** Lowest priority for every thread of this process (on Linux, niceness is per thread; new threads inherit it). */
function lowerPriority(): void {
  try {
    for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), 19);
  } catch {
    try {
      setPriority(19);
    } catch {
      // Not allowed here: the job still runs, at normal priority.
    }
  }
}

/** A new file in the server's tmp/; the server flushes it before it gets its real name. */
const writeNew = (path: string, bytes: Uint8Array) => writeFile(path, bytes, { flag: 'wx', mode: 0o644 });

const refuse = (refusal: 'type' | 'corrupt' | 'pixels', message: string): IngestDone => ({ ok: false, refusal, message });

/** One decode of the original down to the largest copy's width; each copy is made from those pixels. */
async function copies(input: Buffer, maxPixels: number, widths: readonly number[], outOf: (w: number) => string): Promise<{ width: number; path: string }[]> {
  const largest = Math.max(...widths);
  // rotate(): the copies are upright whatever the EXIF orientation (browsers show originals upright too).
  const { data, info } = await sharp(input, { limitInputPixels: maxPixels })
    .rotate()
    .resize({ width: largest, withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
  const out: { width: number; path: string }[] = [];
  for (const w of widths) {
    const bytes = await sharp(data, raw).resize({ width: w, withoutEnlargement: true }).webp({ quality: WEBP_QUALITY }).toBuffer();
    const path = outOf(w);
    await writeNew(path, bytes);
    out.push({ width: w, path });
  }
  return out;
}

async function ingest(job: Extract<ResizeJob, { type: 'ingest' }>): Promise<IngestDone> {
  const input = await readFile(job.path);
  const format = sniffFormat(input);
  if (!format) return refuse('type', 'the body is not a JPEG, PNG or WebP image');
  let meta: Metadata;
  try {
    // The header only: nothing is decoded yet.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    return refuse('corrupt', `the ${format.toUpperCase()} header cannot be read`);
  }
  if (meta.format !== format || !meta.width || !meta.height) return refuse('corrupt', `the ${format.toUpperCase()} header cannot be read`);
  if (meta.width * meta.height > job.maxPixels) {
    return refuse('pixels', `the image is ${meta.width}x${meta.height} pixels, over the limit of ${job.maxPixels}`);
  }
  const upright = meta.autoOrient ?? { width: meta.width, height: meta.height };
  const mediaId = createHash('sha256').update(input).digest('hex');
  let made: { width: number; path: string }[];
  try {
    made = await copies(input, job.maxPixels, job.widths, (w) => join(job.outDir, `${mediaId}-w${w}-${randomBytes(6).toString('hex')}.webp`));
  } catch (err) {
    log.info({ err: String(err) }, 'an upload could not be decoded');
    return refuse('corrupt', `the ${format.toUpperCase()} data cannot be decoded`);
  }
  return { ok: true, mediaId, format, width: upright.width, height: upright.height, copies: made };
}

async function run(job: ResizeJob): Promise<JobResult> {
  if (job.type === 'ingest') return { done: await ingest(job) };
  if (job.type === 'variant') {
    const input = await readFile(job.source);
    const [made] = await copies(input, job.maxPixels, [job.width], () => job.out);
    return made ? { ok: true } : { failed: 'no copy made' };
  }
  await writeNew(job.out, await sharp(Buffer.from(job.svg)).jpeg({ quality: 85 }).toBuffer());
  return { ok: true };
}

// Jobs run one at a time, in arrival order: the server bounds how many it sends.
let chain: Promise<void> = Promise.resolve();
process.on('message', (m: ResizeRequest) => {
  chain = chain.then(async () => {
    let reply: ResizeReply;
    try {
      reply = { seq: m.seq, ...(await run(m.job)) };
    } catch (err) {
      reply = { seq: m.seq, failed: err instanceof Error ? err.message : String(err) };
    }
    lowerPriority();
    process.send?.(reply);
  });
});
process.on('disconnect', () => process.exit(0));
lowerPriority();
process.send?.({ seq: 0, ok: true } satisfies ResizeReply);
