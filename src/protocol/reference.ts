// The op and push tables as Markdown, for docs/protocol.md: the reference section there is this
// output, so the docs cannot drift from what the server implements (a test compares them).
import { Ops, OpNames, type OpSpec } from './ops.js';
import { Pushes, PushNames } from './pushes.js';

interface SchemaLike {
  type?: string;
  properties?: Record<string, SchemaLike>;
  required?: string[];
  items?: SchemaLike;
}

/** `{ sku, qty, warehouse? }`, nested objects spelled out, arrays as `[...]`. */
export function argsShape(schema: SchemaLike): string {
  if (schema.type === 'array' && schema.items) return `[${argsShape(schema.items)}]`;
  if (schema.type !== 'object' || !schema.properties) return '';
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(schema.properties).map(([name, s]) => {
    const inner = argsShape(s);
    return `${name}${required.has(name) ? '' : '?'}${inner ? `: ${inner}` : ''}`;
  });
  return fields.length === 0 ? '{}' : `{ ${fields.join(', ')} }`;
}

const code = (names: readonly string[]): string => (names.length === 0 ? '-' : names.map((n) => `\`${n}\``).join(' '));
const cell = (text: string): string => text.replaceAll('|', '\\|');

export function opTableMarkdown(): string {
  const rows = OpNames.map((name) => {
    const spec: OpSpec = Ops[name];
    return `| \`${name}\` | ${spec.role} | ${spec.owner} | \`${cell(argsShape(spec.args))}\` | ${cell(spec.result.name)} | ${code(spec.errors)} | ${code(spec.pushes)} |`;
  });
  return ['| op | role | owner | args | result | errors | pushes |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

export function pushTableMarkdown(): string {
  const rows = PushNames.map((name) => {
    const p = Pushes[name];
    return `| \`${name}\` | ${cell(p.data.name)} | ${p.topic
      .split(', ')
      .map((t) => `\`${t}\``)
      .join(', ')} | ${cell(p.summary)} |`;
  });
  return ['| push | data | to | when |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
