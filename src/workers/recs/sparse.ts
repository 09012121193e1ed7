// Compressed sparse rows over typed arrays: the one matrix shape every recs kernel reads.
// A CSC of a matrix is the CSR of its transpose, so `transpose` gives both views.

/** rows x cols; row r holds idx/val[ptr[r] .. ptr[r+1]). */
export interface Csr {
  rows: number;
  cols: number;
  ptr: Int32Array;
  idx: Int32Array;
  val: Float32Array;
}

/**
 * Builds a CSR from triples, summing duplicates. Row order is ascending; within a row the
 * columns keep their first-seen order (deterministic for a given input).
 */
export function csrFromTriples(rows: number, cols: number, r: ArrayLike<number>, c: ArrayLike<number>, v: ArrayLike<number>, n: number): Csr {
  const count = new Int32Array(rows + 1);
  for (let e = 0; e < n; e++) count[r[e] + 1]++;
  for (let i = 0; i < rows; i++) count[i + 1] += count[i];
  const fill = count.slice(0, rows);
  const rawIdx = new Int32Array(n);
  const rawVal = new Float64Array(n);
  for (let e = 0; e < n; e++) {
    const p = fill[r[e]]++;
    rawIdx[p] = c[e];
    rawVal[p] = v[e];
  }
  // Merge duplicates per row: slot[col] is the col's position in the row being compacted.
  const slot = new Int32Array(cols).fill(-1);
  const ptr = new Int32Array(rows + 1);
  const idx = new Int32Array(n);
  const val = new Float64Array(n);
  let out = 0;
  for (let i = 0; i < rows; i++) {
    const start = out;
    for (let p = count[i]; p < count[i + 1]; p++) {
      const col = rawIdx[p];
      if (slot[col] >= start) val[slot[col]] += rawVal[p];
      else {
        slot[col] = out;
        idx[out] = col;
        val[out++] = rawVal[p];
      }
    }
    ptr[i + 1] = out;
  }
  return { rows, cols, ptr, idx: idx.slice(0, out), val: Float32Array.from(val.subarray(0, out)) };
}

/** The transpose (equivalently: the CSC view). Columns come out in ascending row order. */
export function transpose(m: Csr): Csr {
  const ptr = new Int32Array(m.cols + 1);
  const nnz = m.ptr[m.rows];
  for (let p = 0; p < nnz; p++) ptr[m.idx[p] + 1]++;
  for (let j = 0; j < m.cols; j++) ptr[j + 1] += ptr[j];
  const fill = ptr.slice(0, m.cols);
  const idx = new Int32Array(nnz);
  const val = new Float32Array(nnz);
  for (let i = 0; i < m.rows; i++) {
    for (let p = m.ptr[i]; p < m.ptr[i + 1]; p++) {
      const q = fill[m.idx[p]]++;
      idx[q] = i;
      val[q] = m.val[p];
    }
  }
  return { rows: m.cols, cols: m.rows, ptr, idx, val };
}

/** Euclidean norm of each row. */
export function rowNorms(m: Csr): Float64Array {
  const out = new Float64Array(m.rows);
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    for (let p = m.ptr[i]; p < m.ptr[i + 1]; p++) s += m.val[p] * m.val[p];
    out[i] = Math.sqrt(s);
  }
  return out;
}

/** Scales each column j by w[j] (in place); used for IDF-style feature weights. */
export function scaleColumns(m: Csr, w: ArrayLike<number>): Csr {
  const nnz = m.ptr[m.rows];
  for (let p = 0; p < nnz; p++) m.val[p] *= w[m.idx[p]];
  return m;
}
