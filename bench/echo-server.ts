/**
 * A bare grpc-js echo server (raw bytes, no protobuf) in its own process: the floor for a
 * cross-process round trip. Prints "ready" when listening; exits on SIGTERM.
 */
import * as grpc from '@grpc/grpc-js'

const address = process.argv[2]!
const passthrough = (b: Buffer): Buffer => b
const server = new grpc.Server()
server.addService({
  echo: { path: '/bench.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: passthrough, requestDeserialize: passthrough, responseSerialize: passthrough, responseDeserialize: passthrough }
}, { echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) })
server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err != null) { process.stderr.write(`${err.message}\n`); process.exit(1) }
  process.stdout.write('ready\n')
})
process.on('SIGTERM', () => { server.forceShutdown(); process.exit(0) })
