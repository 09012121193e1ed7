// Per-op request counts and latency buckets kept in typed arrays. Every answered request costs
// two array increments here instead of two prom-client label lookups (which hash the label set
// on every call: ~6% of the main thread's busy time under load); the Prometheus series are
// built only when /metrics is scraped. Registered into the prom-client registry, so the
// exposition format and the rest of the metrics stay prom-client's.

interface Series {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** The shape prom-client's Registry.registerMetric reads (name, help, type, get). */
export interface CustomMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Series[] }>;
  reset(): void;
}

export class RequestStats {
  private readonly counts: Float64Array;
  private readonly buckets: Float64Array;
  private readonly sums: Float64Array;
  private readonly nb: number;

  constructor(
    private readonly ops: readonly string[],
    private readonly outcomes: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(ops.length * outcomes.length);
    this.nb = bounds.length + 1;
    this.buckets = new Float64Array(ops.length * this.nb);
    this.sums = new Float64Array(ops.length);
  }

  /** One answered request; `op` indexes `ops`, `outcome` indexes `outcomes`. */
  record(op: number, seconds: number, outcome: number): void {
    this.counts[op * this.outcomes.length + outcome]++;
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && seconds > bounds[b]) b++;
    this.buckets[op * this.nb + b]++;
    this.sums[op] += seconds;
  }

  /** Counts only (requests refused before they were timed). */
  count(op: number, outcome: number): void {
    this.counts[op * this.outcomes.length + outcome]++;
  }

  counter(name: string, help: string): CustomMetric {
    return {
      name,
      help,
      type: 'counter',
      aggregator: 'sum',
      get: () => {
        const values: Series[] = [];
        const no = this.outcomes.length;
        for (let op = 0; op < this.ops.length; op++) {
          for (let o = 0; o < no; o++) {
            const value = this.counts[op * no + o];
            if (value > 0) values.push({ labels: { op: this.ops[op], outcome: this.outcomes[o] }, value });
          }
        }
        return Promise.resolve({ name, help, type: 'counter', aggregator: 'sum', values });
      },
      reset: () => this.counts.fill(0),
    };
  }

  histogram(name: string, help: string): CustomMetric {
    return {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: () => {
        const values: Series[] = [];
        for (let op = 0; op < this.ops.length; op++) {
          const base = op * this.nb;
          let total = 0;
          for (let b = 0; b < this.nb; b++) total += this.buckets[base + b];
          if (total === 0) continue;
          const label = this.ops[op];
          let cumulative = 0;
          for (let b = 0; b < this.bounds.length; b++) {
            cumulative += this.buckets[base + b];
            values.push({ metricName: `${name}_bucket`, labels: { le: this.bounds[b], op: label }, value: cumulative });
          }
          values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', op: label }, value: total });
          values.push({ metricName: `${name}_sum`, labels: { op: label }, value: this.sums[op] });
          values.push({ metricName: `${name}_count`, labels: { op: label }, value: total });
        }
        return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
      },
      reset: () => {
        this.buckets.fill(0);
        this.sums.fill(0);
      },
    };
  }
}
