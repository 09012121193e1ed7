// Product images on the wire: the limits of an upload, the widths of the resized copies, and the
// URLs a product's images carry. Shared by the server, the SDK and the docs.

export const MediaLimits = {
  /** Largest upload body (POST /media). */
  MAX_UPLOAD_BYTES: 8 * 1024 * 1024,
  /** Largest image, in pixels (width x height), read from the header before anything is decoded. */
  MAX_PIXELS: 40_000_000,
  /** Images of one product (catalog.setImages). */
  MAX_IMAGES_PER_PRODUCT: 10,
  ALT_MAX_LENGTH: 300,
} as const;

/** The widths of the WebP copies (`GET /media/<id>?w=`). */
export const MEDIA_WIDTHS = [200, 400, 800] as const;
export type MediaWidth = (typeof MEDIA_WIDTHS)[number];

/** A media id: the SHA-256 of the uploaded bytes, lower-case hex. */
export const MEDIA_ID_PATTERN = '^[0-9a-f]{64}$';

export const isMediaWidth = (w: number): w is MediaWidth => (MEDIA_WIDTHS as readonly number[]).includes(w);

/** The URL of the original. */
export const mediaUrl = (mediaId: string): string => `/media/${mediaId}`;

/**
 * The `srcset` of an image `width` pixels wide: every resized copy narrower than the original
 * (a copy is never enlarged), and the original itself when it is not wider than the largest copy.
 */
export function mediaSrcset(mediaId: string, width: number): string {
  const url = mediaUrl(mediaId);
  const parts = MEDIA_WIDTHS.filter((w) => w < width).map((w) => `${url}?w=${w} ${w}w`);
  const largest = MEDIA_WIDTHS[MEDIA_WIDTHS.length - 1];
  if (width <= largest) parts.push(`${url} ${width}w`);
  return parts.join(', ');
}
