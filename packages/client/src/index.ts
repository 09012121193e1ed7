// The cartwire client SDK (Node with `ws`, or any browser WebSocket): typed calls batched per
// tick, subscriptions with stale-push dropping, and reconnect (on by default). See docs/client.md.
export { CartwireClient } from './client.js';
export type { ClientOptions, CallOptions, ConnectionState, StateInfo, ClientEvents, PushHandler, Session } from './client.js';
export type { SocketCtor, MinimalSocket } from './socket.js';
export { CartwireError } from './errors.js';
export type { CartwireErrorCode, ClientErrorCode } from './errors.js';
export type { Topic, TopicValue, AdminEvent, Subscription, SubscribeOptions } from './subscriptions.js';
export { backoffDelay, shouldReconnect, NO_RETRY_CLOSE_CODES } from './reconnect.js';
export type { ReconnectOptions } from './reconnect.js';
export type { OpName, OpArgs, OpResults, Role } from './protocol/ops.js';
export type { ErrorCode } from './protocol/errors.js';
export type { CartView, InventoryView, ProductView } from './protocol/types.js';
