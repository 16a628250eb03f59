/**
 * The one adapter that owns `@grpc/grpc-js`: protobuf-es v2 services served and called as
 * plain typed async functions, with health, reflection, deadlines and one error mapping.
 */
export { GrpcServer, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SHUTDOWN_GRACE_MS, loadReflection } from './server.ts'
export type { GrpcServerInit, GrpcServerComponents } from './server.ts'
export { createGrpcClient } from './client.ts'
export type { GrpcClient, GrpcClientInit } from './client.ts'
export { toGrpcDefinition, methodPath } from './definition.ts'
export { prepareSocket } from './socket.ts'
export type { HandlerContext, ServiceImpl, ServiceClient, CallOptions } from './types.ts'
export { Intake, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MIN_BYTES_PER_SECOND, DEFAULT_BODY_GRACE_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './intake.ts'
export type { IntakeInit, Upload } from './intake.ts'
export { VERSION, processInfo, setSupervisorRestarts } from './process-info.ts'
export type { Logger } from './logger.ts'
export { nodeInfoJson, nodeStatusJson } from './node-status.ts'
export type { NodeInfoLike, NodeStatus, NodeProcessStatus, NetworkCountersLike } from './node-status.ts'
