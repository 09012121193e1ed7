// A type carried by a table row: the TypeScript type for the compiler, a name for the docs.

export interface ResultOf<R> {
  /** How docs/protocol.md names the shape (`cart`, `order`, `{ now }`). */
  readonly name: string;
  /** Phantom: never set at run time. */
  readonly __type?: R;
}

export const result = <R>(name: string): ResultOf<R> => ({ name });
