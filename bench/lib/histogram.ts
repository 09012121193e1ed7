// Latency histograms (HdrHistogram, microseconds, 3 significant digits), shipped between
// processes as compressed base64 and merged in the parent.
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

export const encodeHistogram = (h: Histogram): string => hdr.encodeIntoCompressedBase64(h);

export function mergeHistograms(encoded: string[]): Histogram {
  const total = newHistogram();
  for (const e of encoded) total.add(hdr.decodeFromCompressedBase64(e, 32));
  return total;
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Percentiles in microseconds. */
export function summarize(h: Histogram): LatencySummary {
  return {
    count: h.totalCount,
    mean: Math.round(h.mean),
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
  };
}

/**
 * The HDR percentile distribution as [percentile, µs] points, evenly spaced in log10(1/(1-p))
 * (the x axis of a percentile plot: 90%, 99%, 99.9% equally apart) up to the count's
 * resolution, then the max as 100%.
 */
export function percentileCurve(h: Histogram, step = 0.05): [number, number][] {
  const out: [number, number][] = [];
  if (h.totalCount === 0) return out;
  const top = Math.log10(h.totalCount);
  for (let x = 0; x <= top; x += step) {
    const p = 100 * (1 - 10 ** -x);
    out.push([Math.round(p * 1e6) / 1e6, h.getValueAtPercentile(p)]);
  }
  out.push([100, h.maxValue]);
  return out;
}
