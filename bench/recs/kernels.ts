// ml-matrix vs the sparse typed-array kernel for the three similarity products on MovieLens
// latest-small: the figures behind "typed arrays for the build" in docs/recommendations.md.
// ml-matrix computes the dense Gram matrix (X^T X) and is timed on a slice of the items whose
// size keeps it to seconds, then scaled by its FLOP count (2 m n^2) to the full product; the
// sparse kernel is timed on the same slice and on the full set, top-k selection included.
// Run: npm run build && node dist/bench/recs/kernels.js
import { Matrix } from 'ml-matrix';
import Table from 'cli-table3';
import { cosineNeighbours } from '../../src/workers/recs/cosine-neighbours.js';
import { encodeFeatures, featureMatrix } from '../../src/workers/recs/content-features.js';
import { csrFromTriples, transpose, type Csr } from '../../src/workers/recs/sparse.js';
import { loadMovieLens } from './movielens.js';
import { movieFeatures } from './protocol.js';

const ml = loadMovieLens();
const n = ml.user.length;
const ui = csrFromTriples(ml.users, ml.items, ml.user, ml.item, new Float64Array(n).fill(1), n);
const iu = transpose(ui);
const features = featureMatrix(encodeFeatures(movieFeatures(ml), Number, { category: 0, brand: 0, attribute: 1, priceBand: 0 }), ml.items, false);

const time = (f: () => unknown) => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

/** The first `rows` rows of a CSR (rows = the entities whose similarity is wanted). */
function head(m: Csr, rows: number): Csr {
  const nnz = m.ptr[rows];
  return { rows, cols: m.cols, ptr: m.ptr.slice(0, rows + 1), idx: m.idx.slice(0, nnz), val: m.val.slice(0, nnz) };
}

/** Dense cols x rows matrix X of the rows' vectors, so that X^T X is their Gram matrix. */
function dense(m: Csr): Matrix {
  const x = Matrix.zeros(m.cols, m.rows);
  for (let r = 0; r < m.rows; r++) for (let p = m.ptr[r]; p < m.ptr[r + 1]; p++) x.set(m.idx[p], r, m.val[p]);
  return x;
}

interface Row {
  product: string;
  full: string;
  slice: number;
  mlSlice: number;
  mlFull: number;
  sparseSlice: number;
  sparseFull: number;
  gflops: number;
}

function compare(product: string, rowsOf: Csr, k: number, slice: number): Row {
  const part = head(rowsOf, slice);
  const x = dense(part);
  const mlSlice = time(() => x.transpose().mmul(x));
  const flopsSlice = 2 * x.rows * slice * slice;
  const flopsFull = 2 * x.rows * rowsOf.rows * rowsOf.rows;
  const sparseSlice = time(() => cosineNeighbours(part, transpose(part), { k }));
  const sparseFull = time(() => cosineNeighbours(rowsOf, transpose(rowsOf), { k }));
  return {
    product,
    full: `${rowsOf.rows} x ${rowsOf.rows} over ${rowsOf.cols}`,
    slice,
    mlSlice,
    mlFull: (mlSlice * flopsFull) / flopsSlice,
    sparseSlice,
    sparseFull,
    gflops: flopsSlice / mlSlice / 1e6,
  };
}

const rows = [compare('item-item (ratings)', iu, 50, 1500), compare('user-user (ratings)', ui, 80, ml.users), compare('content (genres)', features, 50, 3000)];
const table = new Table({
  head: ['product', 'full shape', 'slice rows', 'ml-matrix slice', 'ml-matrix full (scaled)', 'sparse slice', 'sparse full', 'ml-matrix GFLOP/s'],
  style: { head: [], border: [] },
});
for (const r of rows)
  table.push([
    r.product,
    r.full,
    r.slice,
    `${r.mlSlice.toFixed(0)} ms`,
    `${(r.mlFull / 1000).toFixed(1)} s`,
    `${r.sparseSlice.toFixed(0)} ms`,
    `${r.sparseFull.toFixed(0)} ms`,
    r.gflops.toFixed(2),
  ]);
console.log(table.toString());
console.log('ml-matrix: X^T X only (no norms, no top-k); sparse: cosine + top-k per row, one thread.');
