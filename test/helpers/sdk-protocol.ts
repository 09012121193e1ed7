// The protocol files the SDK package carries (packages/client/src/protocol/), made from
// src/protocol/: errors.ts and types.ts copied, ops.ts written from the op and push tables with
// every argument and result type spelled out by the compiler, so the package needs neither
// typebox nor the server. test/sdk-protocol.test.ts checks they are current; UPDATE_SDK=1
// (`npm run sdk:protocol`) writes them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROTOCOL = `${ROOT}src/protocol/`;
export const SDK_PROTOCOL = `${ROOT}packages/client/src/protocol/`;

const header = (from: string) => `// Made from src/protocol/${from} by \`npm run sdk:protocol\`; edit the original, not this copy.\n`;

/** File name -> content of every generated file. */
export function sdkProtocolFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const f of ['errors.ts', 'types.ts']) files[f] = header(f) + readFileSync(PROTOCOL + f, 'utf8');
  files['ops.ts'] = header('ops.ts and pushes.ts') + opsTypes();
  return files;
}

function opsTypes(): string {
  const probe = `${PROTOCOL}__sdk_probe.ts`;
  const text = [
    "import type { OpArgs, OpName, OpResults } from './ops.js';",
    "import type { PushData, PushName } from './pushes.js';",
    'export type A = { [O in OpName]: OpArgs<O> };',
    'export type R = OpResults;',
    'export type P = { [N in PushName]: PushData<N> };',
  ].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (f, lang, ...rest) => (f === probe ? ts.createSourceFile(f, text, lang) : getSourceFile(f, lang, ...rest));
  host.fileExists = (f) => f === probe || fileExists(f);
  const program = ts.createProgram([probe], options, host);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(probe)!;
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!);
  const flags = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseSingleQuotesForStringLiteralType | ts.TypeFormatFlags.InTypeAlias;
  const members = (name: string): string[] => {
    const type = checker.getDeclaredTypeOfSymbol(exports.find((s) => s.name === name)!);
    return type.getProperties().map((p) => `  '${p.name}': ${checker.typeToString(checker.getTypeOfSymbolAtLocation(p, source), undefined, flags)};`);
  };
  return `// The SDK's view of the op and push tables: argument and result types by op, data by push.
import type { AuthResult, CartView, CouponView, InventoryView, LowStockAlert, OrderView, Page, ProductView, RecommendationView, Role } from './types.js';
import type { AuditEntry, AuditState, DropAdmission, DropPlace, DropPosition, DropView } from './types.js';

export type { AuthResult, CouponView, LowStockAlert, Page, RecommendationView, Role };
export type { AuditEntry, AuditState, DropAdmission, DropPlace, DropPosition, DropView };

/** Arguments of every op. */
export interface OpArgsByName {
${members('A').join('\n')}
}

/** Results of every op. */
export interface OpResults {
${members('R').join('\n')}
}

/** Data of every push. */
export interface PushDataByName {
${members('P').join('\n')}
}

export type OpName = keyof OpArgsByName;
export type OpArgs<O extends OpName> = OpArgsByName[O];
export type OpResult<O extends OpName> = OpResults[O];
export type PushName = keyof PushDataByName;
export type PushData<P extends PushName> = PushDataByName[P];
// Unused imports are kept so that every shape a result names resolves here.
export type { CartView, InventoryView, OrderView, ProductView };
`;
}
