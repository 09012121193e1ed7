// The contract between the server and its image process (resize-process.ts): jobs name files,
// never carry image bytes, so only small messages cross.
import type { MediaFormat } from '../../persistence/media-files.js';

export type ResizeJob =
  /** Check an upload (type by its bytes, header, pixel limit, a full decode) and make its WebP copies. */
  | { type: 'ingest'; path: string; widths: readonly number[]; outDir: string; maxPixels: number }
  /** One WebP copy of a stored original (a copy lost to a crash is made again). */
  | { type: 'variant'; source: string; width: number; out: string; maxPixels: number }
  /** Renders an SVG document to a JPEG file (the demo catalog's pictures). */
  | { type: 'render'; svg: string; out: string };

/** Why an upload is refused: not JPEG/PNG/WebP, unreadable, or too many pixels. */
export type Refusal = 'type' | 'corrupt' | 'pixels';

export type IngestDone =
  | { ok: true; mediaId: string; format: MediaFormat; width: number; height: number; copies: { width: number; path: string }[] }
  | { ok: false; refusal: Refusal; message: string };

export type JobResult = { done: IngestDone } | { ok: true } | { failed: string };

/** seq 0 is the process saying it is ready. */
export type ResizeReply = { seq: number } & JobResult;

export type ResizeRequest = { seq: number; job: ResizeJob };
