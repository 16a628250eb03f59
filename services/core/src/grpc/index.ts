/**
 * The one adapter that owns `@grpc/grpc-js`: protobuf-es v2 services served and called as
 * plain typed async functions, with health, reflection, deadlines and one error mapping.
 */
export { GrpcServer, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SHUTDOWN_GRACE_MS } from './server.ts'
export type { GrpcServerInit, GrpcServerComponents } from './server.ts'
export { createGrpcClient } from './client.ts'
export type { GrpcClient, GrpcClientInit } from './client.ts'
export { toGrpcDefinition, methodPath } from './definition.ts'
export { prepareSocket } from './socket.ts'
export type { HandlerContext, ServiceImpl, ServiceClient, CallOptions } from './types.ts'
