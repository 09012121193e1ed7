// The WebSocket protocol as an AsyncAPI 3.0 document, made from the op and push tables: one
// request and one response message per op, one message per push. Argument schemas are the
// op table's JSON Schemas; results are named by their shape (docs/protocol.md describes them).
import { Ops, OpNames, type OpName } from './ops.js';
import { Pushes, PushNames } from './pushes.js';
import { ErrorCode } from './errors.js';

type Json = Record<string, unknown>;

/** A TypeBox schema as plain JSON Schema (its symbol keys dropped). */
const plain = (schema: unknown): Json => JSON.parse(JSON.stringify(schema)) as Json;
/** A component key: `cart.add` -> `cart-add` (domain events keep their underscores). */
const key = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, '-');

const wireError = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string', enum: Object.values(ErrorCode) }, message: { type: 'string' }, details: { type: 'object' } },
};

function opMessages(op: OpName): Record<string, Json> {
  const spec = Ops[op];
  return {
    [`${key(op)}_request`]: {
      name: `${op} request`,
      title: op,
      summary: spec.summary,
      payload: {
        type: 'object',
        required: ['id', 'op'],
        properties: { id: { type: 'integer', minimum: 0, maximum: 4294967295 }, op: { const: op }, args: plain(spec.args) },
      },
    },
    [`${key(op)}_response`]: {
      name: `${op} response`,
      summary: `The answer to ${op}: \`${spec.result.name}\`, or an error (${[...spec.errors].join(', ') || 'the common codes'}).`,
      payload: {
        oneOf: [
          {
            type: 'object',
            required: ['id', 'ok', 'result'],
            properties: { id: { type: 'integer' }, ok: { const: true }, result: { description: spec.result.name } },
          },
          { type: 'object', required: ['id', 'ok', 'error'], properties: { id: { type: ['integer', 'null'] }, ok: { const: false }, error: wireError } },
        ],
      },
    },
  };
}

/** The AsyncAPI 3.0 document of the WebSocket protocol. */
export function asyncApiDocument(version: string): Json {
  const messages: Record<string, Json> = {};
  for (const op of OpNames) Object.assign(messages, opMessages(op));
  for (const p of PushNames) {
    messages[`push_${key(p)}`] = {
      name: p,
      summary: `${Pushes[p].summary} Topic: ${Pushes[p].topic}.`,
      payload: { type: 'object', required: ['push', 'data'], properties: { push: { const: p }, data: { description: Pushes[p].data.name } } },
    };
  }
  const ref = (m: string) => ({ $ref: `#/channels/ws/messages/${m}` });
  const operations: Record<string, Json> = {};
  for (const op of OpNames) {
    operations[key(op)] = {
      action: 'send',
      title: op,
      summary: Ops[op].summary,
      channel: { $ref: '#/channels/ws' },
      messages: [ref(`${key(op)}_request`)],
      reply: { channel: { $ref: '#/channels/ws' }, messages: [ref(`${key(op)}_response`)] },
    };
  }
  for (const p of PushNames) {
    operations[`push_${key(p)}`] = { action: 'receive', title: p, channel: { $ref: '#/channels/ws' }, messages: [ref(`push_${key(p)}`)] };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'cartwire',
      version,
      description:
        'Real-time commerce over one WebSocket: MessagePack frames, each a request map or a batch (array) of up to 256; every request answered once, pushes after a subscribe. See docs/protocol.md.',
      license: { name: 'MIT' },
    },
    defaultContentType: 'application/msgpack',
    servers: { local: { host: '127.0.0.1:8080', protocol: 'ws', description: 'A server started with npm start.' } },
    channels: { ws: { address: '/ws', messages } },
    operations,
  };
}
